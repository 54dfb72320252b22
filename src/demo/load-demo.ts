import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { AudienceService } from "../../gen/liveops/v1/audience_service_pb.js";
import { CounterService } from "../../gen/liveops/v1/counter_service_pb.js";
import { EventAdminService } from "../../gen/liveops/v1/event_admin_service_pb.js";
import type { EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { EventService } from "../../gen/liveops/v1/event_service_pb.js";
import { LeaderboardService } from "../../gen/liveops/v1/leaderboard_service_pb.js";
import { PlayerService } from "../../gen/liveops/v1/player_service_pb.js";
import { RewardService } from "../../gen/liveops/v1/reward_service_pb.js";
import { type App, createApp } from "../app.js";
import type { AuditActor } from "../audit/audit-log.js";
import { createManualClock, type ManualClock } from "../clock.js";
import type { Config } from "../config.js";
import { countEventsByStatus } from "../events/event-list-store.js";
import { createBoundaryQueries } from "../events/run-boundaries.js";
import { type Calendar, type DemoPlayer, planCalendar } from "./calendar.js";

/** Why the demo was not loaded: the database is not a fresh one (no demo data was written to it). */
export class DemoRefused extends Error {
  override readonly name = "DemoRefused";
}

/** What the demo made, for its closing summary. */
export interface DemoSummary {
  /** Each event's title and status at the end (the real now). */
  events: { title: string; status: EventStatus }[];
  players: number;
  audiences: string[];
  /** The live championship: its title, players on its board, and the leader. */
  live: { title: string; players: number; leader: string };
  /** The weekly tournament's finished runs, prizes granted and claimed. */
  past: { title: string; runs: number; grants: number; claimed: number };
  scoresSubmitted: number;
  /** Where the first admin key is, when this database's first key was written to a file that exists. */
  adminKeyFile: string | undefined;
}

/** The audit actor of what the demo does outside its API calls (its own key). */
const demoActor: AuditActor = { actorKeyId: "demo", method: "npm run demo", requestId: "" };
/** Longest wait, in real time, for the scheduler to announce what is due. */
const SETTLE_TIMEOUT_MS = 30_000;

function clientsOf(transport: Transport) {
  return {
    events: createClient(EventService, transport),
    admin: createClient(EventAdminService, transport),
    boards: createClient(LeaderboardService, transport),
    rewards: createClient(RewardService, transport),
    counters: createClient(CounterService, transport),
    players: createClient(PlayerService, transport),
    audiences: createClient(AudienceService, transport),
  };
}
type DemoClients = ReturnType<typeof clientsOf>;

/**
 * Fills a fresh database with the demo calendar: runs the real service on a clock that starts weeks before `now`
 * and moves it forward to the real now, making the calls a console and game servers would make at their moments,
 * so that runs start and end, boards are finalized and prizes granted by the real scheduler. Refuses (DemoRefused)
 * a database that holds any event, or that another server schedules.
 */
export async function loadDemo(deps: { config: Config; logger: Logger; now?: number }): Promise<DemoSummary> {
  const calendar = planCalendar(deps.now ?? Date.now());
  const clock = createManualClock(calendar.start);
  const config: Config = {
    ...deps.config,
    // A private listener for the demo's own calls: no metrics port or TLS that a running server may hold, and no
    // dashboard (nobody browses it; loading it costs a second).
    metricsPort: undefined,
    tlsCertFile: undefined,
    tlsKeyFile: undefined,
    dashboardDir: "",
    shutdownDelayMs: 0,
    // Hundreds of small commits: without an fsync each. A demo interrupted by a crash is loaded again anyway (into a
    // fresh file), and the server opens the file with its own setting.
    dbSynchronous: "NORMAL",
  };
  // The first admin key is made as `npm start` makes it (to INITIAL_ADMIN_KEY_FILE), for the reader to sign in with.
  const app = await createApp({ config, logger: deps.logger, clock, initialAdminKey: true });
  /** The loader's own key: of no use once it is done (or failed), so revoked then: only the first admin key signs in. */
  let loaderKeyId: string | undefined;
  try {
    await refuseUnlessFresh(app, config, clock);
    const { row, key } = await app.keys.createKey(
      { name: "demo loader", role: "admin", rateLimit: { perSecond: 100_000, burst: 1_000_000 } },
      clock.now(),
      demoActor,
    );
    loaderKeyId = row.id;
    const address = await app.listen(0, "127.0.0.1");
    const transport = createConnectTransport({
      baseUrl: `http://127.0.0.1:${address.port}`,
      httpVersion: "2",
      useBinaryFormat: true,
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${key}`);
          return next(req);
        },
      ],
    });
    const clients = clientsOf(transport);
    const ids = await createCalendar(clients, calendar);
    const settle = settler(app, clock);
    let scoresSubmitted = 0;
    for (const moment of calendar.moments) {
      await settle(moment.at);
      const eventId = ids.get(moment.event) ?? "";
      if (moment.kind === "score") {
        await clients.boards.submitScore({ eventId, playerId: moment.playerId, score: moment.score });
        scoresSubmitted++;
      } else if (moment.kind === "counter") {
        await clients.counters.incrementCounter({ eventId, name: moment.name, delta: moment.delta });
      } else {
        const { grants } = await clients.rewards.listRewardGrants({ eventId, runNumber: moment.runNumber });
        for (const grant of grants) {
          if (moment.ranks.includes(Number(grant.rank))) await clients.rewards.claimReward({ grantId: grant.id });
        }
      }
    }
    // The end of the history is the real now, whatever the loading took.
    await settle(Math.max(Date.now(), clock.now()));
    const summary = await summarize(clients, calendar, ids, clock.now());
    return {
      ...summary,
      scoresSubmitted,
      adminKeyFile: existsSync(config.initialAdminKeyFile) ? config.initialAdminKeyFile : undefined,
    };
  } finally {
    try {
      if (loaderKeyId !== undefined) await app.keys.revokeKey(loaderKeyId, clock.now(), demoActor);
    } finally {
      await app.close(1000);
    }
  }
}

async function refuseUnlessFresh(app: App, config: Config, clock: ManualClock) {
  const where = config.databaseUrl === undefined ? config.dbPath : "the PostgreSQL database of DATABASE_URL";
  const counts = await countEventsByStatus(app.storage.reads, { titleQuery: "", now: clock.now(), byTargeting: false });
  const events = counts.reduce((sum, c) => sum + c.count, 0);
  if (events > 0) {
    throw new DemoRefused(
      `${where} already holds ${events} event${events === 1 ? "" : "s"}: the demo fills only a fresh database (point --db or DATABASE_URL at a new one)`,
    );
  }
  if (!app.cluster.leading) {
    throw new DemoRefused(`another liveops server schedules ${where}: stop it before loading the demo`);
  }
}

/**
 * Moves the clock to `at` and waits until the scheduler has announced every run boundary up to it (a run that ended
 * is finalized and its prizes granted), however its passes and timers interleave with the demo's writes.
 */
function settler(app: App, clock: ManualClock) {
  const boundaries = createBoundaryQueries(app.storage.reads);
  return async (at: number) => {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    for (;;) {
      // The demo's history only moves forward.
      clock.set(Math.max(at, clock.now()));
      await app.scheduler.idle();
      const next = await boundaries.nextBoundary();
      if ((next === undefined || next > clock.now()) && !clock.hasDueTimers()) return;
      if (Date.now() > deadline)
        throw new Error(`the scheduler did not announce the run boundaries due at ${new Date(at).toISOString()}`);
      // A write's reschedule is still reading its next boundary: let it arm its timer.
      await sleep(2);
    }
  };
}

/** Players, audiences and events, made at the start of the history; returns the events' ids by key. */
async function createCalendar(clients: DemoClients, calendar: Calendar): Promise<Map<string, string>> {
  const property = (value: string | number) =>
    typeof value === "string"
      ? { kind: { case: "stringValue" as const, value } }
      : { kind: { case: "numberValue" as const, value } };
  await Promise.all(
    calendar.players.map((player: DemoPlayer) =>
      clients.players.setPlayerProperties({
        playerId: player.id,
        properties: {
          country: property(player.country),
          platform: property(player.platform),
          level: property(player.level),
        },
      }),
    ),
  );
  for (const audience of calendar.audiences) await clients.audiences.createAudience({ audience });
  const ids = new Map<string, string>();
  for (const { key, event } of calendar.events) {
    const created = await clients.admin.createEvent({ event });
    ids.set(key, created.event?.id ?? "");
  }
  return ids;
}

async function summarize(
  clients: DemoClients,
  calendar: Calendar,
  ids: Map<string, string>,
  now: number,
): Promise<Omit<DemoSummary, "adminKeyFile" | "scoresSubmitted">> {
  const { events } = await clients.events.listEvents({ pageSize: 100 });
  const arena = ids.get("arena") ?? "";
  const board = await clients.boards.listScores({ eventId: arena, pageSize: 100 });
  const cup = ids.get("cup") ?? "";
  const { runs } = await clients.events.listEventRuns({
    eventId: cup,
    startTime: timestampFromMs(calendar.start),
    endTime: timestampFromMs(now),
  });
  let grants = 0;
  let claimed = 0;
  let pageToken = "";
  do {
    const page = await clients.rewards.listRewardGrants({ eventId: cup, pageSize: 100, pageToken });
    grants += page.grants.length;
    claimed += page.grants.filter((g) => g.claimTime !== undefined).length;
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  const title = (key: string) => String(calendar.events.find((e) => e.key === key)?.event.title ?? key);
  return {
    events: events.map((e) => ({ title: e.title, status: e.status })),
    players: calendar.players.length,
    audiences: calendar.audiences.map((a) => a.name),
    live: { title: title("arena"), players: board.scores.length, leader: board.scores[0]?.playerId ?? "" },
    past: {
      title: title("cup"),
      runs: runs.filter((r) => r.endTime !== undefined && timestampMs(r.endTime) <= now).length,
      grants,
      claimed,
    },
  };
}
