// npm run bench [-- --quick] [--audiences-only]: the product against its peers, and on SQLite against PostgreSQL,
// side by side, in one run. See bench/README.md.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetEventRequestSchema } from "../gen/liveops/v1/event_service_pb.js";
import { openSqliteStorage } from "../src/db/sqlite-storage.js";
import { checkCall, checkGrpcStatus, checkPeers } from "./answer-checks.js";
import { reportAudiences, runAudiences } from "./audiences.js";
import { compare } from "./comparisons.js";
import { openBenchPostgres } from "./databases.js";
import { h2load, hasH2load, type Round, type Scenario } from "./h2load.js";
import { reportLeaderboards, runLeaderboards } from "./leaderboards.js";
import { runManyInstances } from "./many-instances.js";
import { startPostgresServer } from "./postgres-server.js";
import { cores, peakRssMb, pinned, type Server, startServer, stopServer, waitUntilIdle } from "./processes.js";
import { type Result, writeReport } from "./report.js";
import { planSeed, type SeedKeys, seedEvents } from "./seed.js";
import { reportWatchers, runWatchers } from "./watchers.js";

const quick = process.argv.includes("--quick");
/** Only the players and audiences section (build, PostgreSQL, then bench/audiences.ts): for iterating on it. */
const audiencesOnly = process.argv.includes("--audiences-only");
const timing = quick
  ? { warmUp: 1, duration: 2, rounds: 1, roundWarmUp: 1 }
  : { warmUp: 2, duration: 5, rounds: 5, roundWarmUp: 1 };
const load = { connections: 20, streams: 10 };
const EVENTS = quick ? 2_000 : 10_000;
const DAY = 86_400_000;

if (!hasH2load()) {
  console.error("npm run bench needs h2load: apt-get install nghttp2-client");
  process.exit(1);
}
// Ctrl-C or SIGTERM: exit through the exit handlers, which stop the servers and PostgreSQL and delete their files.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

const dir = mkdtempSync(join(tmpdir(), "liveops-bench-"));
const dbPath = join(dir, "liveops.db");
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

console.log(`building the production server (npm run build)…`);
execFileSync("npm", ["run", "--silent", "build"], { stdio: "inherit" });
const startedAt = Date.now();
// The database server shares core 0 with the liveops server, as SQLite shares its process: h2load keeps core 1.
const since = (start: number) => `${((Date.now() - start) / 1000).toFixed(1)} s`;
const postgresStart = Date.now();
const postgres = await startPostgresServer({ core: pinned ? 0 : undefined });
console.log(`PostgreSQL ${postgres.version} (${postgres.source}) started in ${since(postgresStart)}`);
const rateLimits =
  "viewer=100000/1000000,game_server=100000/1000000,operator=100000/1000000,admin=100000/1000000,player=100000/1000000";
/** The players and audiences section (bench/audiences.ts), on SQLite and on this PostgreSQL server. */
const measureAudiences = () => runAudiences({ quick, timing, postgres, dir, rateLimits });
if (audiencesOnly) {
  reportAudiences(await measureAudiences(), quick);
  await postgres.stop();
  process.exit(0);
}

// Same events, same ids on both backends; each backend gets keys of its own.
const plan = planSeed(EVENTS);
const { eventId, competitionId } = plan;
console.log(`seeding ${EVENTS} events in SQLite…`);
const sqliteStorage = openSqliteStorage(dbPath);
const sqliteKeys = await seedEvents(sqliteStorage, plan);
await sqliteStorage.close();
console.log(`seeding the same ${EVENTS} events in PostgreSQL…`);
const postgresSeed = Date.now();
const postgresKeys = await seedPostgres(postgres.url);
console.log(`PostgreSQL migrated and seeded in ${since(postgresSeed)}`);

/** Migrates the database through the product's own storage, then seeds it. */
async function seedPostgres(url: string): Promise<SeedKeys> {
  const storage = await openBenchPostgres(url);
  try {
    return await seedEvents(storage, plan);
  } finally {
    await storage.close();
  }
}

const bodies = join(dir, "bodies");
mkdirSync(bodies);
function bodyFile(name: string, bytes: Uint8Array): string {
  const file = join(bodies, name);
  writeFileSync(file, bytes);
  return file;
}
const json = (name: string, message: unknown) => ({
  file: bodyFile(name, Buffer.from(JSON.stringify(message))),
  contentType: "application/json",
});
const getEventProto = toBinary(GetEventRequestSchema, create(GetEventRequestSchema, { id: eventId }));
const grpcFrame = new Uint8Array(5 + getEventProto.length);
new DataView(grpcFrame.buffer).setUint32(1, getEventProto.length);
grpcFrame.set(getEventProto, 5);
const grpcBody = { file: bodyFile("get-event.grpc", grpcFrame), contentType: "application/grpc", grpc: true };
const jsonBody = json("get-event.json", { id: eventId });
const submitBody = json("submit-score.json", { eventId: competitionId, playerId: "bench-player", score: "1" });
const listBody = json("list-events.json", { pageSize: 50 });
// As large as a seeded event, a year ahead: the events it creates sort after ListEvents' first page.
const createStart = plan.now + 365 * DAY;
const createBody = json("create-event.json", {
  event: {
    title: "Bench created event",
    description: "Climb the ladder, collect tokens and trade them for seasonal rewards. ".repeat(3),
    startTime: new Date(createStart).toISOString(),
    endTime: new Date(createStart + 2 * DAY).toISOString(),
    rewards: [
      { id: "gems", name: "Gems", quantity: "250" },
      { id: "chest.gold", name: "Gold chest", quantity: "1" },
      { id: "xp_boost", name: "XP boost", quantity: "3" },
    ],
    metadata: { theme: "winter", minLevel: 10, regions: ["eu", "na"] },
  },
});

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** A scenario on one server, with its rounds so far. */
interface Run {
  server: Server;
  serverName: string;
  scenario: Scenario;
  key: string;
  rounds: Round[];
  /** The processes that serve it, waited for after each round until idle (the product's; peers drop nothing). */
  processes?: (() => number[]) | undefined;
}

const logFile = join(dir, "h2load.log");
/** Seconds spent waiting for servers to finish the requests a round left behind. */
let drained = 0;
async function round(run: Run, seconds: number, warmUp: number): Promise<Round> {
  const result = h2load({
    port: run.server.port,
    scenario: run.scenario,
    key: run.key,
    load,
    seconds,
    warmUp,
    logFile,
  });
  if (run.processes) drained += (await waitUntilIdle(run.processes, 60_000)) / 1000;
  return result;
}

/**
 * Measures every run in turn, round after round (A B C … A B C …), so that a slow spell of this shared machine
 * weighs on every server alike instead of on whichever ran during it; then reports medians. Returns the runs in which
 * a request failed or a round completed none.
 */
async function measure(runs: Run[], results: Result[]): Promise<string[]> {
  for (const run of runs) await round(run, timing.warmUp, 0);
  for (let i = 0; i < timing.rounds; i++) {
    // Each round starts with a second of unmeasured load: the server takes over the core from the previous one.
    for (const run of runs) run.rounds.push(await round(run, timing.duration, timing.roundWarmUp));
  }
  const failures: string[] = [];
  for (const { server, serverName, scenario, rounds } of runs) {
    const failed = rounds.reduce((n, r) => n + r.failed, 0);
    if (failed > 0 || rounds.some((r) => r.succeeded === 0)) {
      const bad = rounds.filter((r) => r.failed > 0 || r.succeeded === 0).map((r) => r.requests);
      failures.push(
        `${serverName} ${scenario.name}: ${failed} requests failed, or none succeeded in a round (${bad.join("; ")})`,
      );
    }
    const result: Result = {
      scenario: scenario.name,
      server: serverName,
      rps: Math.round(median(rounds.map((r) => r.rps))),
      roundsRps: rounds.map((r) => Math.round(r.rps)),
      p50Ms: median(rounds.map((r) => r.p50)),
      p99Ms: median(rounds.map((r) => r.p99)),
      peakRssMb: peakRssMb(server.child.pid),
    };
    results.push(result);
    console.log(
      `  ${serverName.padEnd(20)} ${scenario.name.padEnd(34)} ${String(result.rps).padStart(7)} req/s  p50 ${result.p50Ms.toFixed(2)} ms  p99 ${result.p99Ms.toFixed(2)} ms  (rounds: ${result.roundsRps.join(", ")})`,
    );
  }
  return failures;
}

const results: Result[] = [];
console.log(
  `\n${timing.rounds} round(s) of ${timing.duration} s after ${timing.warmUp} s of warm-up; ${load.connections} connections × ${load.streams} streams (HTTP/1.1: 1); ${pinned ? "servers and PostgreSQL on core 0, h2load on core 1" : "one core: not pinned"}`,
);

// Every server runs from the start, each pinned to core 0 and idle while another is measured. (Started one after
// another: together they take as long, all on the one core.)
const serversStart = Date.now();
const liveops = await startServer("liveops", "node", ["dist/src/main.js"], {
  HOST: "127.0.0.1",
  DB_PATH: dbPath,
  RATE_LIMITS: rateLimits,
});
const liveopsPostgres = await startServer("liveops (PostgreSQL)", "node", ["dist/src/main.js"], {
  HOST: "127.0.0.1",
  DATABASE_URL: postgres.url,
  // Unused with DATABASE_URL but for the folder of the initial admin key, which the seeded keys make unnecessary.
  DB_PATH: join(dir, "postgres", "unused.db"),
  RATE_LIMITS: rateLimits,
});
// The peers (bench/peers/): each does the product's work for its call, on the SQLite file (bench/README.md).
const peer = (name: string, file: string, env: Record<string, string> = {}) =>
  startServer(name, "node", ["--import", "tsx", `bench/peers/${file}`], { DB_PATH: dbPath, ...env });
const peers = {
  "grpc-js": await peer("grpc-js", "grpc-js-server.ts"),
  "grpc-js (key check)": await peer("grpc-js (key check)", "grpc-js-server.ts", { CHECK_KEYS: "1" }),
  fastify: await peer("fastify", "fastify-server.ts"),
  "bare-h2": await peer("bare-h2", "bare-http2-server.ts"),
};
checkGrpcStatus(liveops.port, sqliteKeys.key, eventId);
checkGrpcStatus(liveopsPostgres.port, postgresKeys.key, eventId);
// Same answers as the product's, byte for byte, and the same refusals, before any load.
const checked = await checkPeers({
  liveops: liveops.port,
  grpcJs: peers["grpc-js"].port,
  grpcJsKeys: peers["grpc-js (key check)"].port,
  fastify: peers.fastify.port,
  key: sqliteKeys.key,
  eventId,
  getEventRequest: getEventProto,
});
console.log(
  `servers started and the peers checked in ${since(serversStart)}; the peers answer as liveops does:\n${checked.map((line) => `  ${line}`).join("\n")}`,
);

const getEvent = "/liveops.v1.EventService/GetEvent";
const submitScore = "/liveops.v1.LeaderboardService/SubmitScore";
const getEventGrpc: Scenario = { name: "GetEvent gRPC (h2c)", path: getEvent, body: grpcBody };
// 20 in flight, not 200: on PostgreSQL a page took longer than a round with 200 in flight, and as long again to finish
// once the load stops.
const listEvents: Scenario = {
  name: "ListEvents 50 Connect JSON (h2c)",
  path: "/liveops.v1.EventService/ListEvents",
  body: listBody,
  load: { connections: 20, streams: 1 },
};
// The same page over HTTP/1.1 (20 connections, one request each), beside Fastify's route listing it.
const listEventsHttp1: Scenario = { ...listEvents, name: "ListEvents 50 Connect JSON (HTTP/1.1)", http1: true };
const fastifyListing: Scenario = {
  name: "GET /events?page_size=50 (HTTP/1.1)",
  path: "/events?page_size=50",
  http1: true,
};
const createEvent: Scenario = {
  name: "CreateEvent Connect JSON (h2c)",
  path: "/liveops.v1.EventAdminService/CreateEvent",
  body: createBody,
  key: "operatorKey",
};
// Durable writes (SQLite synchronous=FULL, PostgreSQL fsync and synchronous_commit on): one at a time, every request
// is its own transaction and fsync; with 200 in flight, SQLite's group commit writes many per transaction, while on
// PostgreSQL each is still its own transaction, and all of them wait in turn for the one player's row.
const submitOne: Scenario = {
  name: "SubmitScore one at a time (h2c)",
  path: submitScore,
  body: submitBody,
  key: "gameServerKey",
  load: { connections: 1, streams: 1 },
};
const submitMany: Scenario = {
  name: "SubmitScore 200 in flight (h2c)",
  path: submitScore,
  body: submitBody,
  key: "gameServerKey",
};

type Target = [Server, string, Scenario];
/** The same scenario on SQLite, then on PostgreSQL, back to back. */
const onBothBackends = (scenario: Scenario): Target[] => [
  [liveops, "liveops", scenario],
  [liveopsPostgres, "liveops (PostgreSQL)", scenario],
];
// Each peer next to the scenario it is compared with; the heavy ListEvents and the writes last.
const targets: Target[] = [
  ...onBothBackends(getEventGrpc),
  [peers["grpc-js"], "grpc-js", getEventGrpc],
  [peers["grpc-js (key check)"], "grpc-js (key check)", getEventGrpc],
  [liveops, "liveops", { name: "GetEvent Connect JSON (HTTP/1.1)", path: getEvent, body: jsonBody, http1: true }],
  [peers.fastify, "fastify", { name: "GET /events/{id} (HTTP/1.1)", path: `/events/${eventId}`, http1: true }],
  [liveops, "liveops", { name: "GET /events/{id} (HTTP/1.1)", path: `/events/${eventId}`, http1: true }],
  [liveops, "liveops", { name: "GetEvent Connect JSON (h2c)", path: getEvent, body: jsonBody }],
  [peers["bare-h2"], "bare-h2", { name: "fixed response (h2c)", path: "/" }],
  [liveops, "liveops", { name: "GET /events/{id} (h2c)", path: `/events/${eventId}` }],
  ...onBothBackends(listEvents),
  [liveops, "liveops", listEventsHttp1],
  [peers.fastify, "fastify", fastifyListing],
  ...onBothBackends(createEvent),
  ...onBothBackends(submitOne),
  ...onBothBackends(submitMany),
];
const keyFor = (server: Server, scenario: Scenario) =>
  (server === liveopsPostgres ? postgresKeys : sqliteKeys)[scenario.key ?? "key"];
const processesOf = (server: Server): (() => number[]) | undefined => {
  const pid = server.child.pid ?? 0;
  if (server === liveops) return () => [pid];
  if (server === liveopsPostgres) return () => [pid, ...postgres.pids()];
  return undefined;
};
const runs: Run[] = targets.map(([server, serverName, scenario]) => ({
  server,
  serverName,
  scenario,
  key: keyFor(server, scenario),
  rounds: [],
  processes: processesOf(server),
}));
for (const run of runs) {
  if (run.server === liveops || run.server === liveopsPostgres) {
    await checkCall(run.serverName, run.server.port, run.scenario, run.key);
  }
}
const failures = await measure(runs, results);
console.log(
  `measured in ${since(startedAt)} after the build, of which ${drained.toFixed(1)} s waiting for servers to finish the requests a round left behind`,
);
// Printed now, so that a later section that fails leaves them on the screen; then failed requests fail the bench.
const comparisons = compare(results);
if (failures.length > 0) throw new Error(failures.join("\n"));
for (const server of [liveops, liveopsPostgres, ...Object.values(peers)]) await stopServer(server);
const audiences = await measureAudiences();
// Watch streams at scale (bench/watchers.ts), then a board of a million players against Redis (bench/leaderboards.ts).
const watchers = await runWatchers({ quick, postgres, dir, rateLimits });
const boards = await runLeaderboards({ quick, timing, postgres, dir, rateLimits });

// Several instances on the same PostgreSQL database (bench/many-instances.ts).
const many = await runManyInstances({
  quick,
  postgres,
  keys: postgresKeys,
  plan,
  env: {
    HOST: "127.0.0.1",
    DATABASE_URL: postgres.url,
    DB_PATH: join(dir, "instances", "unused.db"),
    RATE_LIMITS: rateLimits,
  },
  bodies: { getEvent: grpcBody, listEvents: listBody, json },
  logDir: dir,
  createStart: createStart + 30 * DAY,
});
await postgres.stop();

writeReport(results, comparisons, many, {
  quick,
  pinned,
  cores,
  timing,
  load,
  events: EVENTS,
  postgres: {
    version: postgres.version,
    source: postgres.source,
    settings:
      "initdb defaults (fsync, synchronous_commit, full_page_writes on) but max_connections 300, pinned with the server",
    poolSize: "10 (DB_POOL_SIZE default)",
  },
  instances: many.setup,
  seconds: Math.round((Date.now() - startedAt) / 1000),
});
reportAudiences(audiences, quick);
reportWatchers(watchers, quick);
reportLeaderboards(boards);
