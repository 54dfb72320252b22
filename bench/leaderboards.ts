// The "board of a million players" section of npm run bench (issue 19): a live competition with 1,000,000 players
// (quick: 20,000) on SQLite and PostgreSQL against a Redis sorted set with appendfsync always — the board rebuilt at
// start-up, its memory per entry, rank lookups and durable SubmitScore, in interleaved rounds. See bench/README.md,
// "A board of a million players". Alone: node --import tsx bench/leaderboards.ts [--quick]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  GetPlayerScoreRequestSchema,
  ListScoresAroundPlayerRequestSchema,
  SubmitScoreRequestSchema,
} from "../gen/liveops/v1/leaderboard_service_pb.js";
import { type Caller, closedLoop, grpcFrame, http2Caller, type LoadRound } from "./leaderboard-load.js";
import {
  type BoardRow,
  type BoardStartup,
  type LeaderboardSection,
  printSection,
  REDIS,
  ratiosOf,
  reportLeaderboards,
} from "./leaderboard-report.js";
import {
  type BoardKeys,
  type BoardServer,
  COMPETITION_ID,
  measureBoardInProcess,
  newBoardDatabase,
  playerOf,
  scoreOf,
  seedBoard,
  startBoardServer,
  stopBoardServer,
} from "./leaderboard-servers.js";
import {
  hasRedisServer,
  type RedisCall,
  type RedisPeer,
  redisCaller,
  seedRedisBoard,
  startRedisPeer,
} from "./peers/redis-leaderboard.js";
import { type PostgresServer, startPostgresServer } from "./postgres-server.js";
import { cpuSeconds, pinned, pinProcess, treeCpuSeconds, waitUntilIdle } from "./processes.js";

/** How long rows run (as bench/run.ts passes it). */
export interface Timing {
  warmUp: number;
  duration: number;
  rounds: number;
  roundWarmUp: number;
}

export type { BoardRatio, BoardRow, BoardStartup, LeaderboardSection } from "./leaderboard-report.js";
export { reportLeaderboards };

/** A server's processes (waited for until idle after each row) and their CPU seconds so far. */
interface Measured {
  processes: () => number[];
  cpu: () => number;
}

const SERVICE = "/liveops.v1.LeaderboardService";
const AROUND = 5;
/** What the Redis peer's script does for each call (bench/peers/redis-leaderboard.ts). */
const REDIS_WORK: Record<RedisCall, string> = {
  rank: "EVALSHA of ZREVRANK + ZSCORE",
  around: `EVALSHA of ZREVRANK + ZREVRANGE (${AROUND} either side) WITHSCORES`,
  submit: "EVALSHA of ZADD INCR + ZREVRANK",
};
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** The rows: which call, how many in flight; the Redis peer's call for the same work. */
const ROWS: { row: string; method: string; protocol: "grpc" | "connect"; inFlight: number; redis?: RedisCall }[] = [
  { row: "GetPlayerScore gRPC, 1 in flight", method: "GetPlayerScore", protocol: "grpc", inFlight: 1, redis: "rank" },
  {
    row: `ListScoresAroundPlayer gRPC (${AROUND} either side), 1 in flight`,
    method: "ListScoresAroundPlayer",
    protocol: "grpc",
    inFlight: 1,
    redis: "around",
  },
  {
    row: "GetPlayerScore gRPC, 200 in flight",
    method: "GetPlayerScore",
    protocol: "grpc",
    inFlight: 200,
    redis: "rank",
  },
  {
    row: `ListScoresAroundPlayer gRPC (${AROUND} either side), 200 in flight`,
    method: "ListScoresAroundPlayer",
    protocol: "grpc",
    inFlight: 200,
    redis: "around",
  },
  { row: "SubmitScore gRPC, 200 in flight", method: "SubmitScore", protocol: "grpc", inFlight: 200, redis: "submit" },
  { row: "SubmitScore Connect JSON, 200 in flight", method: "SubmitScore", protocol: "connect", inFlight: 200 },
];

/** The players the calls name, in a fixed pseudo-random order over the board (48271 is a prime, so coprime to every board size here). */
function playersOf(entries: number, count: number): string[] {
  return Array.from({ length: Math.min(count, entries) }, (_, j) => playerOf((j * 48271 + 11) % entries));
}

/** The request bodies of a row, one per player. */
function bodiesOf(method: string, protocol: "grpc" | "connect", players: string[]): Buffer[] {
  return players.map((playerId) => {
    const fields = { eventId: COMPETITION_ID, playerId };
    if (protocol === "connect") return Buffer.from(JSON.stringify({ ...fields, score: "1" }));
    if (method === "SubmitScore")
      return grpcFrame(toBinary(SubmitScoreRequestSchema, create(SubmitScoreRequestSchema, { ...fields, score: 1n })));
    if (method === "GetPlayerScore")
      return grpcFrame(toBinary(GetPlayerScoreRequestSchema, create(GetPlayerScoreRequestSchema, fields)));
    return grpcFrame(
      toBinary(ListScoresAroundPlayerRequestSchema, create(ListScoresAroundPlayerRequestSchema, fields)),
    );
  });
}

/**
 * One backend's database, seeded, the board rebuilt in this process, and its server with the board loaded; in full
 * runs first the same server on an empty board (start-up and RSS without the entries).
 */
async function startBackend(options: {
  backend: string;
  prefix: string;
  entries: number;
  dir: string;
  postgres: PostgresServer | undefined;
  rateLimits: string;
  now: number;
  baseline: boolean;
}): Promise<{ startup: BoardStartup; server: BoardServer; keys: BoardKeys }> {
  const { backend, prefix, entries, dir, postgres, rateLimits, now } = options;
  let emptyServer: BoardServer | undefined;
  if (options.baseline) {
    const empty = await newBoardDatabase(`${prefix}-empty`, dir, postgres);
    const emptyStorage = await empty.open();
    const emptyKeys = await seedBoard(emptyStorage, 0, now).finally(() => emptyStorage.close());
    const viewerKey = emptyKeys.viewer;
    emptyServer = await startBoardServer({ env: empty.env, rateLimits, viewerKey, player: playerOf(0) });
    await stopBoardServer(emptyServer);
  }
  const full = await newBoardDatabase(prefix, dir, postgres);
  const storage = await full.open();
  let keys: BoardKeys;
  let seedMs: number;
  let inProcess: BoardStartup["inProcess"];
  try {
    const seeding = performance.now();
    keys = await seedBoard(storage, entries, now);
    seedMs = Math.round(performance.now() - seeding);
    inProcess = await measureBoardInProcess(storage, entries);
  } finally {
    await storage.close();
  }
  const server = await startBoardServer({ env: full.env, rateLimits, viewerKey: keys.viewer, player: playerOf(0) });
  const startup: BoardStartup = {
    backend,
    seedMs,
    inProcess,
    startMs: server.startMs,
    startCpuMs: server.startCpuMs,
    rssMb: mb(server.rss),
    ...(emptyServer && {
      empty: {
        startMs: emptyServer.startMs,
        startCpuMs: emptyServer.startCpuMs,
        rssMb: mb(emptyServer.rss),
        startDifferenceMs: server.startMs - emptyServer.startMs,
        startCpuDifferenceMs: server.startCpuMs - emptyServer.startCpuMs,
        rssBytesPerEntry: Math.round((server.rss - emptyServer.rss) / entries),
      },
    }),
  };
  const empty = emptyServer
    ? ` (${emptyServer.startMs} ms, ${emptyServer.startCpuMs} ms of CPU and ${mb(emptyServer.rss)} MB on an empty board)`
    : "";
  console.log(
    `  ${backend}: seeded ${entries} entries in ${seedMs} ms; board rebuilt in process in ${inProcess.ms} ms, ${inProcess.bytesPerEntry} B/entry; server answers ${server.startMs} ms after spawn (${server.startCpuMs} ms of CPU), RSS ${startup.rssMb} MB${empty}`,
  );
  return { startup, server, keys };
}

/** A Redis peer with the same players and scores, or why there is none. */
async function startRedis(
  entries: number,
): Promise<{ peer: RedisPeer; figures: LeaderboardSection["redis"] } | string> {
  if (!hasRedisServer()) {
    const message = "redis-server is not installed (Debian package redis-server: apt-get install redis-server)";
    if (process.env.CI === "true") throw new Error(`the leaderboard section needs its Redis peer: ${message}`);
    return message;
  }
  const peer = await startRedisPeer();
  const before = await peer.memory();
  const seeding = performance.now();
  await seedRedisBoard(peer, entries, scoreOf);
  const seedMs = Math.round(performance.now() - seeding);
  const after = await peer.memory();
  const restartMs = Math.round(await peer.restart());
  const figures = {
    seedMs,
    restartMs,
    usedBytesPerEntry: Math.round((after.used - before.used) / entries),
    rssBytesPerEntry: Math.round((after.rss - before.rss) / entries),
  };
  console.log(
    `  Redis: seeded in ${seedMs} ms; restarted and answering in ${restartMs} ms; used_memory ${figures.usedBytesPerEntry} B/entry (RSS ${figures.rssBytesPerEntry})`,
  );
  return { peer, figures };
}

/**
 * Seeds the board on each backend (SQLite, and PostgreSQL when given) and in the Redis peer, times each server's
 * start-up, then measures the rows in interleaved rounds: each row on liveops (SQLite), liveops (PostgreSQL) and
 * Redis back to back, the same players named in the same order, this process (the load) on core 1.
 */
export async function runLeaderboards(options: {
  quick: boolean;
  timing: Timing;
  postgres: PostgresServer | undefined;
  dir: string;
  rateLimits: string;
}): Promise<LeaderboardSection> {
  const { quick, postgres, dir, rateLimits } = options;
  const entries = quick ? 20_000 : 1_000_000;
  // Quick: one short round (CI keeps the section alive); full: the run's rounds, rows of at most 3 s.
  const rounds = quick ? 1 : options.timing.rounds;
  // Quick rows last a second after a second of lead-in: 200 durable SubmitScores in flight on PostgreSQL can take
  // longer than half a second to come back, and a row that answered nothing would print a ratio of 0.
  const seconds = quick ? 1 : Math.min(3, options.timing.duration);
  const warmUp = 1;
  pinProcess(process.pid, 1);
  console.log(`\na board of ${entries.toLocaleString("en")} players (bench/leaderboards.ts)…`);
  const sectionStart = performance.now();
  const load = [loadAverage()];
  const now = Date.now();
  const backends = [{ backend: "liveops", prefix: "board-sqlite", postgres: undefined as PostgresServer | undefined }];
  if (postgres) backends.push({ backend: "liveops (PostgreSQL)", prefix: "board-pg", postgres });
  const started: (Measured & { backend: string; server: BoardServer; keys: BoardKeys })[] = [];
  const startup: BoardStartup[] = [];
  const callers: Caller[] = [];
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
  try {
    for (const b of backends) {
      const {
        startup: s,
        server,
        keys,
      } = await startBackend({
        ...b,
        entries,
        dir,
        rateLimits,
        now,
        baseline: !quick,
      });
      startup.push(s);
      const pid = server.child.pid ?? 0;
      const pg = b.postgres;
      started.push({
        ...b,
        server,
        keys,
        processes: pg ? () => [pid, ...pg.pids()] : () => [pid],
        cpu: pg ? () => cpuSeconds([pid]) + treeCpuSeconds(pg.postmaster) : () => cpuSeconds([pid]),
      });
    }
    redis = await startRedis(entries);
    const players = playersOf(entries, quick ? 10_000 : 50_000);
    type Run = Measured & { server: string; row: (typeof ROWS)[number]; caller: Caller; rounds: LoadRound[] };
    const runs: Run[] = [];
    for (const row of ROWS) {
      const connections = row.inFlight === 1 ? 1 : 20;
      for (const s of started) {
        const key = row.method === "SubmitScore" ? s.keys.gameServer : s.keys.viewer;
        const bodies = bodiesOf(row.method, row.protocol, players);
        const path = `${SERVICE}/${row.method}`;
        const caller = await http2Caller({
          port: s.server.port,
          path,
          key,
          protocol: row.protocol,
          bodies,
          connections,
        });
        callers.push(caller);
        runs.push({ server: s.backend, row, caller, processes: s.processes, cpu: s.cpu, rounds: [] });
      }
      if (row.redis && typeof redis === "object") {
        const caller = await redisCaller(redis.peer, row.redis, players, connections, AROUND);
        callers.push(caller);
        const peer = redis.peer;
        const label = `${row.method}: ${REDIS_WORK[row.redis]}, ${row.inFlight} in flight`;
        const processes = () => [peer.pid()];
        runs.push({
          server: REDIS,
          row: { ...row, row: label },
          caller,
          processes,
          cpu: () => cpuSeconds(processes()),
          rounds: [],
        });
      }
    }
    console.log(
      `  ${rounds} round(s); rows of ${seconds} s after ${warmUp} s unmeasured; load from this process${pinned ? " on core 1, servers on core 0" : ""}`,
    );
    for (let r = 0; r < rounds; r++) {
      for (const run of runs) {
        const cpuBefore = run.cpu();
        const result = await closedLoop(run.caller.call, run.row.inFlight, seconds, warmUp);
        if (result.failed > 0) {
          throw new Error(`${run.server} ${run.row.row}: ${result.failed} calls failed: ${result.failure}`);
        }
        await waitUntilIdle(run.processes, 30_000);
        result.serverUs = Math.round(((run.cpu() - cpuBefore) * 1e6) / Math.max(1, result.allCalls));
        run.rounds.push(result);
      }
    }
    const rows: BoardRow[] = runs.map((run) => ({
      server: run.server,
      row: run.row.row,
      method: run.row.method,
      inFlight: run.row.inFlight,
      rounds: run.rounds,
      rps: median(run.rounds.map((x) => x.rps)),
      p50Ms: median(run.rounds.map((x) => x.p50Ms)),
      p99Ms: median(run.rounds.map((x) => x.p99Ms)),
      serverUs: median(run.rounds.map((x) => x.serverUs ?? 0)),
    }));
    const section: LeaderboardSection = {
      quick,
      entries,
      startup,
      ...(typeof redis === "object" ? { redis: redis.figures } : { redisSkipped: redis }),
      rows,
      ratios: ratiosOf(rows),
      setup: `${rounds} round(s) of ${seconds} s rows after ${warmUp} s; ${players.length} players named in turn; section ${Math.round((performance.now() - sectionStart) / 1000)} s`,
      load: [...load, loadAverage()],
    };
    printSection(section);
    return section;
  } finally {
    for (const caller of callers) await caller.close().catch(() => {});
    for (const s of started) await stopBoardServer(s.server);
    if (typeof redis === "object") await redis.peer.stop();
  }
}

// Alone: builds, starts a throwaway PostgreSQL server, runs the section.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes("--quick");
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));
  const dir = mkdtempSync(join(tmpdir(), "liveops-bench-board-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  if (!process.argv.includes("--no-build")) execFileSync("npm", ["run", "--silent", "build"], { stdio: "inherit" });
  const postgres = await startPostgresServer({ core: pinned ? 0 : undefined });
  try {
    const section = await runLeaderboards({
      quick,
      timing: quick
        ? { warmUp: 1, duration: 2, rounds: 1, roundWarmUp: 0 }
        : { warmUp: 2, duration: 5, rounds: 5, roundWarmUp: 1 },
      postgres,
      dir,
      rateLimits:
        "viewer=100000/1000000,game_server=100000/1000000,operator=100000/1000000,admin=100000/1000000,player=100000/1000000",
    });
    reportLeaderboards(section);
  } finally {
    await postgres.stop();
  }
  process.exit(0);
}
