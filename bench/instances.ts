// Several liveops processes on one PostgreSQL database: throughput and CPU time per request as instances are added.
// See bench/README.md, "Many instances on one PostgreSQL".
import { join } from "node:path";
import { h2loadTogether, type Load, type Round, type Scenario } from "./h2load.js";
import type { PostgresServer } from "./postgres-server.js";
import { cpuSeconds, type Server, startServer, treeCpuSeconds, waitUntilIdle } from "./processes.js";
import type { SeedKeys } from "./seed.js";

/**
 * h2load processes per scenario, whatever the number of instances: client i sends to instance i mod N, so with 1, 2
 * or 3 instances the load generator is the same (the same processes, connections and streams), only spread.
 */
export const CLIENTS = 6;

/** A workload spread over the instances. */
export interface SpreadScenario {
  name: string;
  path: string;
  key: keyof SeedKeys;
  /** Each client's connections × streams (the total is CLIENTS times as many). */
  perClient: Load;
  /** One body, or one per client (e.g. each client's scores for a player of its own). */
  bodies: NonNullable<Scenario["body"]>[];
}

/** N instances on one scenario: medians of the rounds, and every round's figures. */
export interface InstancesResult {
  instances: number;
  scenario: string;
  /** In flight in all (every client's connections × streams). */
  inFlight: number;
  rps: number;
  roundsRps: number[];
  p50Ms: number;
  p99Ms: number;
  /** Calls the instances answered in the measured windows (h2load's warm-up and the drain after it included). */
  requests: number;
  /** CPU µs per call of the instance processes (all of them, summed) and of every PostgreSQL process. */
  instanceUs: number;
  postgresUs: number;
  roundsInstanceUs: number[];
  roundsPostgresUs: number[];
  /** Cores busy on average in the measured windows: instances plus PostgreSQL (1 = core 0 saturated). */
  busyCores: number;
  /** Changes read from the logs per call, all instances together (a score is read by every instance). */
  changesReadPerCall: number;
  /** liveops_change_delay_seconds over the windows, all instances: bucket bounds of p50 and p99, in ms. */
  changeDelayP50Ms: number | undefined;
  changeDelayP99Ms: number | undefined;
}

/**
 * Starts one more instance on core 0 (`node dist/src/main.js` with `env`) and waits until it is ready: listening,
 * migrated, following the change logs.
 */
export async function addInstance(servers: Server[], env: Record<string, string>): Promise<Server> {
  const server = await startServer(`liveops instance ${servers.length + 1}`, "node", ["dist/src/main.js"], env);
  const started = Date.now();
  for (;;) {
    const ready = await fetch(`http://127.0.0.1:${server.port}/health/ready`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() - started > 30_000) throw new Error(`instance ${servers.length + 1} was not ready within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  servers.push(server);
  return server;
}

/** The /metrics text of each instance. */
async function scrape(servers: Server[]): Promise<string[]> {
  return Promise.all(servers.map(async (s) => (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text()));
}

/** Sum of the samples of `name` (over the texts) whose labels include `labels`. */
function sumOf(texts: string[], name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const text of texts) {
    for (const line of text.split("\n")) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      const wanted = Object.entries(labels).every(([label, value]) => line.includes(`${label}="${value}"`));
      if (wanted) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

/** Calls of `path`, by outcome, answered so far by the instances. */
function callsOf(texts: string[], path: string) {
  const [, service = "", method = ""] = path.split("/");
  const all = sumOf(texts, "liveops_calls_total", { service, method });
  const ok = sumOf(texts, "liveops_calls_total", { service, method, code: "ok" });
  // A request h2load abandoned when its time was up (the server still answers it).
  const canceled = sumOf(texts, "liveops_calls_total", { service, method, code: "canceled" });
  return { all, failed: all - ok - canceled };
}

const DELAY_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The change-delay histogram's cumulative bucket counts, all instances together. */
function delayBuckets(texts: string[]): number[] {
  return [...DELAY_BOUNDS.map(String), "+Inf"].map((le) => sumOf(texts, "liveops_change_delay_seconds_bucket", { le }));
}

/** The bound (ms) of the bucket holding quantile `q` of the observations between two readings. */
function bucketQuantile(before: number[], after: number[], q: number): number | undefined {
  const counts = after.map((n, i) => n - (before[i] ?? 0));
  const total = counts.at(-1) ?? 0;
  if (total === 0) return undefined;
  const i = counts.findIndex((n) => n >= q * total);
  const bound = DELAY_BOUNDS[i];
  return bound === undefined ? Number.POSITIVE_INFINITY : bound * 1000;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** One round's figures and what the instances and PostgreSQL did meanwhile. */
interface MeasuredRound {
  round: Round;
  calls: number;
  failed: number;
  instanceSeconds: number;
  postgresSeconds: number;
  wallSeconds: number;
  changesRead: number;
  delayBefore: number[];
  delayAfter: number[];
}

/**
 * Runs the scenario's clients against the instances (client i → instance i mod N) and measures, from just before
 * h2load starts until the instances and PostgreSQL are idle again: the CPU of the instances and of PostgreSQL
 * (/proc, PostgreSQL's exited backends included) and the calls answered (the instances' liveops_calls_total).
 */
async function spreadRound(
  servers: Server[],
  postgres: PostgresServer,
  scenario: SpreadScenario,
  keys: SeedKeys,
  seconds: number,
  warmUp: number,
  logDir: string,
): Promise<MeasuredRound> {
  const pids = () => servers.map((s) => s.child.pid ?? 0);
  const before = await scrape(servers);
  const startedAt = Date.now();
  const instanceBefore = cpuSeconds(pids());
  const postgresBefore = treeCpuSeconds(postgres.postmaster);
  const round = await h2loadTogether(
    Array.from({ length: CLIENTS }, (_, i) => ({
      port: (servers[i % servers.length] as Server).port,
      scenario: {
        name: scenario.name,
        path: scenario.path,
        body: scenario.bodies[i % scenario.bodies.length],
        load: scenario.perClient,
      },
      key: keys[scenario.key],
      load: scenario.perClient,
      seconds,
      warmUp,
      logFile: join(logDir, `h2load-${i}.log`),
    })),
  );
  await waitUntilIdle(() => [...pids(), ...postgres.pids()], 60_000);
  const instanceSeconds = cpuSeconds(pids()) - instanceBefore;
  const postgresSeconds = treeCpuSeconds(postgres.postmaster) - postgresBefore;
  const wallSeconds = (Date.now() - startedAt) / 1000;
  const after = await scrape(servers);
  const callsBefore = callsOf(before, scenario.path);
  const callsAfter = callsOf(after, scenario.path);
  return {
    round,
    calls: callsAfter.all - callsBefore.all,
    failed: callsAfter.failed - callsBefore.failed,
    instanceSeconds,
    postgresSeconds,
    wallSeconds,
    changesRead: sumOf(after, "liveops_changes_read_total") - sumOf(before, "liveops_changes_read_total"),
    delayBefore: delayBuckets(before),
    delayAfter: delayBuckets(after),
  };
}

/**
 * Measures each scenario on the running instances: a warm-up round each, then `rounds` rounds of every scenario in
 * turn (interleaved, as the rest of the benchmark). Fails when a call failed or a round answered none.
 */
export async function measureSpread(options: {
  servers: Server[];
  postgres: PostgresServer;
  scenarios: SpreadScenario[];
  keys: SeedKeys;
  timing: { warmUp: number; duration: number; rounds: number; roundWarmUp: number };
  logDir: string;
}): Promise<InstancesResult[]> {
  const { servers, postgres, scenarios, keys, timing, logDir } = options;
  const run = (scenario: SpreadScenario, seconds: number, warmUp: number) =>
    spreadRound(servers, postgres, scenario, keys, seconds, warmUp, logDir);
  for (const scenario of scenarios) await run(scenario, timing.warmUp, 0);
  const measured = new Map<SpreadScenario, MeasuredRound[]>(scenarios.map((s) => [s, []]));
  for (let i = 0; i < timing.rounds; i++) {
    for (const scenario of scenarios) {
      measured.get(scenario)?.push(await run(scenario, timing.duration, timing.roundWarmUp));
    }
  }
  return scenarios.map((scenario) => {
    const rounds = measured.get(scenario) ?? [];
    const failed = rounds.reduce((n, r) => n + r.failed + r.round.failed, 0);
    if (failed > 0 || rounds.some((r) => r.round.succeeded === 0 || r.calls === 0)) {
      throw new Error(`${servers.length} instances, ${scenario.name}: ${failed} calls failed, or none in a round`);
    }
    const us = (seconds: number, calls: number) => Math.round((seconds / calls) * 1e6);
    const roundsInstanceUs = rounds.map((r) => us(r.instanceSeconds, r.calls));
    const roundsPostgresUs = rounds.map((r) => us(r.postgresSeconds, r.calls));
    const calls = rounds.reduce((n, r) => n + r.calls, 0);
    const wall = rounds.reduce((n, r) => n + r.wallSeconds, 0);
    const cpu = rounds.reduce((n, r) => n + r.instanceSeconds + r.postgresSeconds, 0);
    // Each round's own observations, added up (the other scenarios' rounds ran in between).
    const zero = (rounds[0] as MeasuredRound).delayBefore.map(() => 0);
    const delayAfter = rounds.reduce(
      (sums, r) => sums.map((n, i) => n + (r.delayAfter[i] ?? 0) - (r.delayBefore[i] ?? 0)),
      zero,
    );
    return {
      instances: servers.length,
      scenario: scenario.name,
      inFlight: CLIENTS * scenario.perClient.connections * scenario.perClient.streams,
      rps: Math.round(median(rounds.map((r) => r.round.rps))),
      roundsRps: rounds.map((r) => Math.round(r.round.rps)),
      p50Ms: median(rounds.map((r) => r.round.p50)),
      p99Ms: median(rounds.map((r) => r.round.p99)),
      requests: calls,
      instanceUs: median(roundsInstanceUs),
      postgresUs: median(roundsPostgresUs),
      roundsInstanceUs,
      roundsPostgresUs,
      busyCores: Math.round((cpu / wall) * 100) / 100,
      changesReadPerCall: Math.round((rounds.reduce((n, r) => n + r.changesRead, 0) / calls) * 100) / 100,
      changeDelayP50Ms: bucketQuantile(zero, delayAfter, 0.5),
      changeDelayP99Ms: bucketQuantile(zero, delayAfter, 0.99),
    };
  });
}
