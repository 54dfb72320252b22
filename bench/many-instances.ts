// The many-instances section of npm run bench: 1, 2, 3 liveops processes on one PostgreSQL database. See
// bench/README.md, "Many instances on one PostgreSQL".
import { type DeliveryResult, measureDelivery } from "./delivery.js";
import { type FollowResult, measureFollowing } from "./follow.js";
import type { Scenario } from "./h2load.js";
import { addInstance, CLIENTS, type InstancesResult, measureSpread, type SpreadScenario } from "./instances.js";
import type { PostgresServer } from "./postgres-server.js";
import { pinProcess, type Server, stopServer } from "./processes.js";
import type { SeedKeys, SeedPlan } from "./seed.js";

type Body = NonNullable<Scenario["body"]>;

/** Everything the section measured, and how. */
export interface ManyInstances {
  spread: InstancesResult[];
  follow: FollowResult[];
  delivery: DeliveryResult;
  setup: Record<string, unknown>;
}

/**
 * Adds instances one at a time (1, 2, 3; quick: 1, 2), all on core 0 with PostgreSQL, and at each count measures
 * the spread scenarios (the same six h2load processes on core 1 spread over the instances) and the cost of following
 * a high rate of logged changes; then, with all of them, the delivery of changes from one to the others.
 */
export async function runManyInstances(options: {
  quick: boolean;
  postgres: PostgresServer;
  keys: SeedKeys;
  plan: SeedPlan;
  /** The instances' environment: DATABASE_URL, RATE_LIMITS, … */
  env: Record<string, string>;
  bodies: { getEvent: Body; listEvents: Body; json: (name: string, message: unknown) => Body };
  logDir: string;
  createStart: number;
}): Promise<ManyInstances> {
  const { quick, postgres, keys, plan } = options;
  // Each count adds a fresh instance whose code V8 has not optimized yet (measured: a new instance's GetEvent costs
  // twice the CPU of a warm one in its first seconds): each scenario runs unmeasured for `warmUp` seconds first.
  const timing = quick
    ? { warmUp: 1, duration: 2, rounds: 1, roundWarmUp: 0 }
    : { warmUp: 5, duration: 5, rounds: 3, roundWarmUp: 1 };
  const counts = quick ? [1, 2] : [1, 2, 3];
  const follow = quick ? { rates: [2000], seconds: 2 } : { rates: [1000, 5000, 20000], seconds: 5 };
  const delivery = quick ? { watchers: 100, creates: 10, scores: 10 } : { watchers: 1000, creates: 50, scores: 50 };
  // This process logs the followed changes and receives the watchers' ones: on core 1, away from the instances.
  pinProcess(process.pid, 1);
  const scenarios: SpreadScenario[] = [
    {
      name: "GetEvent gRPC",
      path: "/liveops.v1.EventService/GetEvent",
      key: "key",
      perClient: { connections: 4, streams: 8 },
      bodies: [options.bodies.getEvent],
    },
    {
      name: "ListEvents 50 Connect JSON",
      path: "/liveops.v1.EventService/ListEvents",
      key: "key",
      perClient: { connections: 4, streams: 1 },
      bodies: [options.bodies.listEvents],
    },
    {
      name: "SubmitScore Connect JSON",
      path: "/liveops.v1.LeaderboardService/SubmitScore",
      key: "gameServerKey",
      perClient: { connections: 4, streams: 8 },
      // Each client its own player: six players' rows, whatever the number of instances.
      bodies: Array.from({ length: CLIENTS }, (_, i) =>
        options.bodies.json(`submit-score-${i}.json`, {
          eventId: plan.competitionId,
          playerId: `bench-player-${i}`,
          score: "1",
        }),
      ),
    },
  ];
  console.log(
    `\nmany instances on one PostgreSQL: ${timing.rounds} round(s) of ${timing.duration} s; ${CLIENTS} h2load processes, client i → instance i mod N`,
  );
  const servers: Server[] = [];
  const spread: InstancesResult[] = [];
  const followed: FollowResult[] = [];
  const followAt = async (rate: number) => {
    const baseline = followed.find((f) => f.instances === 0 && f.rate === rate)?.postgresUs;
    const result = await measureFollowing({
      postgres,
      servers,
      eventId: plan.followCompetitionId,
      rate,
      seconds: follow.seconds,
      perCommit: Math.max(1, Math.ceil(rate / 1000)),
      baselinePostgresUs: baseline,
    });
    followed.push(result);
    console.log(
      `  ${servers.length} instance(s) following ${result.achieved} changes/s (${result.commitsPerSecond} commits/s): instances ${result.instanceUsEach} µs/change each, PostgreSQL ${result.postgresUs} µs/change (${result.postgresUsEach ?? "-"} each)`,
    );
  };
  try {
    // What logging the changes costs PostgreSQL with nobody following: subtracted from the later figures.
    for (const rate of follow.rates) await followAt(rate);
    for (const count of counts) {
      while (servers.length < count) await addInstance(servers, options.env);
      const measured = await measureSpread({ servers, postgres, scenarios, keys, timing, logDir: options.logDir });
      for (const r of measured) {
        console.log(
          `  ${count} instance(s) ${r.scenario.padEnd(28)} ${String(r.rps).padStart(6)} req/s  instances ${r.instanceUs} µs/call  PostgreSQL ${r.postgresUs} µs/call  (rounds: ${r.roundsRps.join(", ")})`,
        );
      }
      spread.push(...measured);
      for (const rate of follow.rates) await followAt(rate);
    }
    const [writer, ...watched] = servers as [Server, ...Server[]];
    const delivered = await measureDelivery({
      instances: servers.length,
      writer,
      watched,
      keys,
      ...delivery,
      competitionId: plan.competitionId,
      createStart: options.createStart,
    });
    console.log(
      `  CreateEvent through A → all ${delivered.watchers} watchers on ${delivered.watchedInstances} other instance(s): p50 ${delivered.allP50Ms} ms, p99 ${delivered.allP99Ms} ms; SubmitScore through A → visible on the others: p50 ${delivered.scoreVisibleP50Ms} ms, p99 ${delivered.scoreVisibleP99Ms} ms`,
    );
    return {
      spread,
      follow: followed,
      delivery: delivered,
      setup: { counts, timing, clients: CLIENTS, follow, delivery },
    };
  } finally {
    for (const server of servers) await stopServer(server);
  }
}
