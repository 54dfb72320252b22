// The liveops side of the leaderboard section (bench/leaderboards.ts): a database with one live competition whose
// board holds many players, seeded in bulk through SQL (a million SubmitScores through the API would take longer
// than the whole benchmark), and the production server started on it, timed until it answers.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { sql } from "drizzle-orm";
import { LeaderboardOrder } from "../gen/liveops/v1/event_pb.js";
import type { Storage } from "../src/db/storage.js";
import { createKeyStore } from "../src/keys/key-store.js";
import { createScoreStore } from "../src/leaderboards/score-store.js";
import { type BenchDatabase, newBenchDatabase } from "./databases.js";
import type { PostgresServer } from "./postgres-server.js";
import { cpuSeconds, freePort, onCore } from "./processes.js";
import { INCR_LEADERBOARD } from "./seed.js";

const DAY = 86_400_000;
/** The competition every liveops database of the section holds. */
export const COMPETITION_ID = "5eed0000-0000-4000-8000-00000000b0a4";

/** The score of seeded player i: spread over a million values, with ties (ordered by who reached them first). */
export const scoreOf = (i: number) => (i * 7919) % 1_000_003;
/** The id of seeded player i. */
export const playerOf = (i: number) => `player-${i}`;

/** A new SQLite file in `dir`, or a new database on the benchmark's PostgreSQL server (seeding runs long statements). */
export const newBoardDatabase = (name: string, dir: string, postgres?: PostgresServer): Promise<BenchDatabase> =>
  newBenchDatabase(name, dir, postgres, { statementTimeoutMs: 600_000 });

/** The keys of a seeded database. */
export interface BoardKeys {
  viewer: string;
  gameServer: string;
}

/**
 * Seeds a migrated database: a viewer and a game_server key, the competition (live from a day ago for a week; INCR,
 * higher first, no join needed, no limits) and `entries` players on its board, `playerOf(i)` with `scoreOf(i)`,
 * each reached in the order of i, one submission each. On PostgreSQL the sequence of tie-break numbers is moved past
 * the seeded ones, as the API would have left it.
 */
export async function seedBoard(storage: Storage, entries: number, now: number): Promise<BoardKeys> {
  const keys = createKeyStore(storage);
  const actor = { actorKeyId: "bench", method: "bench seed", requestId: "" };
  const viewer = (await keys.createKey({ name: "bench board viewer", role: "viewer" }, now, actor)).key;
  const gameServer = (await keys.createKey({ name: "bench board game server", role: "game_server" }, now, actor)).key;
  const leaderboard = INCR_LEADERBOARD;
  const postgres = storage.dialect === "postgres";
  const numbers = postgres
    ? sql`SELECT i::bigint AS i FROM generate_series(0, ${entries - 1}) AS i`
    : sql`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${entries}) SELECT i FROM n`;
  await storage.withTransaction(async (tx) => {
    await tx.run(sql`INSERT INTO events (id, title, description, start_time, end_time, rewards, leaderboard, version,
      create_time, update_time)
      VALUES (${COMPETITION_ID}, 'Million cup', '', ${now - DAY}, ${now + 7 * DAY}, '[]', ${leaderboard}, 1, ${now}, ${now})`);
    await tx.run(sql`INSERT INTO event_runs (event_id, run_number, start_time, end_time, start_announced,
      end_announced, participants) VALUES (${COMPETITION_ID}, 1, ${now - DAY}, ${now + 7 * DAY}, ${true}, ${false}, ${entries})`);
    if (entries === 0) return;
    await tx.run(sql`INSERT INTO scores (event_id, run_number, player_id, score, subscore, reached_seq, submissions,
        join_time, update_time)
      SELECT ${COMPETITION_ID}, 1, 'player-' || i, (i * 7919) % 1000003, 0, i + 1, 1, ${now}, ${now}
      FROM (${numbers}) AS numbers`);
    if (postgres) await tx.run(sql`SELECT setval('scores_reached_seq', ${entries})`);
  });
  return { viewer, gameServer };
}

/**
 * The board's cost in this process (pinned to core 1 by the caller): the time to read it from the database and
 * build it (the product's own ScoreStore.boardOf), and the heap and array buffers it holds once built (after a full
 * garbage collection before and after), per entry; then the CPU of its operations (a rank, the entries around a
 * player, the top 10, a score applied) for players spread over it.
 */
export async function measureBoardInProcess(storage: Storage, entries: number) {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const memory = () => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = memory();
  const started = performance.now();
  const cpu = process.cpuUsage();
  const board = await createScoreStore(storage).boardOf(COMPETITION_ID, 1, LeaderboardOrder.HIGHER_FIRST);
  const used = process.cpuUsage(cpu);
  const ms = performance.now() - started;
  const bytes = memory() - before;
  if (board.rankedCount !== entries) throw new Error(`the board holds ${board.rankedCount} entries, not ${entries}`);
  // Each operation for players spread over the board (as the rows' calls name them), CPU µs per call.
  const player = (k: number) => playerOf((k * 48271 + 11) % entries);
  const perCall = (calls: number, operation: (k: number) => void) => {
    const at = process.cpuUsage();
    for (let k = 0; k < calls; k++) operation(k);
    const spent = process.cpuUsage(at);
    return Math.round(((spent.user + spent.system) / calls) * 100) / 100;
  };
  const calls = Math.min(entries, 50_000);
  const operationsUs = {
    entryOf: perCall(calls, (k) => board.entryOf(player(k))),
    around: perCall(calls, (k) => {
      const entry = board.entryOf(player(k));
      if (entry) board.page(Math.max(0, entry.rank - 6), 11);
    }),
    top10: perCall(calls, () => board.page(0, 10)),
    apply: perCall(calls, (k) => {
      const entry = board.entryOf(player(k));
      if (!entry) return;
      const { record } = entry;
      board.apply([{ ...record, score: record.score + 1, seq: entries + k + 1, submissions: record.submissions + 1 }]);
    }),
  };
  return {
    ms: Math.round(ms),
    cpuMs: Math.round((used.user + used.system) / 1000),
    bytesPerEntry: Math.round(bytes / Math.max(1, entries)),
    operationsUs,
  };
}

/** A liveops server of the section. */
export interface BoardServer {
  child: ChildProcess;
  port: number;
  /** From spawning the process to its first answer of GetPlayerScore (it listens once the live boards are read). */
  startMs: number;
  /** The CPU time it used until then (user + system), ms: steadier than the wall time on a busy machine. */
  startCpuMs: number;
  /** Resident set size once it answers, bytes. */
  rss: number;
}

/**
 * Starts `node dist/src/main.js` on core 0 and times it until GetPlayerScore (Connect JSON over HTTP/1.1, every
 * 20 ms) answers 200 for `player` — or NOT_FOUND (404) on an empty board — within `patienceMs`.
 */
export async function startBoardServer(options: {
  env: Record<string, string>;
  rateLimits: string;
  viewerKey: string;
  player: string;
  patienceMs?: number;
  /** Options of node itself (e.g. --cpu-prof, which NODE_OPTIONS does not take). */
  nodeOptions?: string[];
}): Promise<BoardServer> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(...onCore(0, "node", [...(options.nodeOptions ?? []), "dist/src/main.js"]), {
    env: { ...process.env, HOST: "127.0.0.1", PORT: String(port), RATE_LIMITS: options.rateLimits, ...options.env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  process.once("exit", () => child.kill("SIGKILL"));
  const deadline = started + (options.patienceMs ?? 180_000);
  while (performance.now() < deadline && child.exitCode === null) {
    const status = await fetch(`http://127.0.0.1:${port}/liveops.v1.LeaderboardService/GetPlayerScore`, {
      method: "POST",
      headers: { authorization: `Bearer ${options.viewerKey}`, "content-type": "application/json" },
      body: JSON.stringify({ eventId: COMPETITION_ID, playerId: options.player }),
    }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200 || status === 404) {
      const startMs = Math.round(performance.now() - started);
      const startCpuMs = Math.round(cpuSeconds([child.pid ?? 0]) * 1000);
      return { child, port, startMs, startCpuMs, rss: rssOf(child.pid ?? 0) };
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (child.exitCode !== null) throw new Error(`the liveops server exited at start-up (code ${child.exitCode})`);
  child.kill("SIGKILL");
  throw new Error(`the liveops server did not answer GetPlayerScore within ${options.patienceMs ?? 180_000} ms`);
}

/** A process's resident set size now, bytes (VmRSS). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Stops a server of the section. */
export async function stopBoardServer(server: BoardServer) {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill("SIGKILL");
  await once(server.child, "exit");
}
