// Peer of the leaderboard section (bench/leaderboards.ts): a Redis sorted set, the structure game backends use for
// boards, in a throwaway `redis-server` (Debian's package) started for the benchmark — append-only file on,
// `appendfsync always`, so an acknowledged ZADD is on disk as a SubmitScore is — and the calls a Redis user makes
// for the product's three calls, through ioredis. See bench/README.md, "A board of a million players".
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { Caller } from "../leaderboard-load.js";
import { freePort, onCore } from "../processes.js";

/** The sorted set of the board. */
const BOARD = "board";

/**
 * The product's calls as one script each (one round trip, atomic, as one RPC is): SubmitScore adds to the player's
 * score (the bench's board is INCR) and answers the rank it now has; GetPlayerScore answers rank and score; the read
 * around a player answers `count` entries on either side of it, with scores.
 */
const SCRIPTS = {
  submit: `local score = redis.call('ZADD', KEYS[1], 'INCR', ARGV[1], ARGV[2])
return {score, redis.call('ZREVRANK', KEYS[1], ARGV[2])}`,
  rank: `local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not rank then return redis.error_reply('NOT_FOUND') end
return {rank, redis.call('ZSCORE', KEYS[1], ARGV[1])}`,
  around: `local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not rank then return redis.error_reply('NOT_FOUND') end
local count = tonumber(ARGV[2])
return redis.call('ZREVRANGE', KEYS[1], math.max(0, rank - count), rank + count, 'WITHSCORES')`,
};

/** Whether Debian's redis-server is installed. */
export function hasRedisServer(): boolean {
  return spawnSync("redis-server", ["--version"]).status === 0;
}

/** A running throwaway Redis server. */
export interface RedisPeer {
  port: number;
  pid(): number;
  /** Stops it (SHUTDOWN: the append-only file is flushed) and starts it again on the same files; resolves with the ms from start to the first answer of ZCARD, i.e. the set read back. */
  restart(): Promise<number>;
  /** used_memory and the process's RSS, in bytes. */
  memory(): Promise<{ used: number; rss: number }>;
  client(): Redis;
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` on core 0 in a temporary directory: 127.0.0.1 only, `appendonly yes`, `appendfsync always`,
 * no RDB snapshots (`save ""`: the append-only file is the durability, as for a Redis run for it), Redis's other
 * defaults (automatic AOF rewrites included); deleted when stopped or when this process exits.
 */
export async function startRedisPeer(): Promise<RedisPeer> {
  const dir = mkdtempSync(join(tmpdir(), "liveops-bench-redis-"));
  const port = await freePort();
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--save",
    "",
    "--daemonize",
    "no",
    "--logfile",
    join(dir, "redis.log"),
  ];
  let child: ChildProcess;
  const launch = async () => {
    const started = performance.now();
    child = spawn(...onCore(0, "redis-server", args), { stdio: "ignore" });
    const probe = new Redis({
      port,
      host: "127.0.0.1",
      lazyConnect: true,
      retryStrategy: () => 20,
      maxRetriesPerRequest: null,
    });
    probe.on("error", () => {});
    try {
      for (;;) {
        try {
          await probe.zcard(BOARD);
          return performance.now() - started;
        } catch {
          // Not listening yet, or still loading the file (-LOADING).
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        if (child.exitCode !== null) throw new Error("redis-server exited at start-up");
      }
    } finally {
      probe.disconnect();
    }
  };
  /** A connection for one command: it does not reconnect, and its errors are the command's. */
  const adminClient = () => {
    const admin = new Redis({ port, host: "127.0.0.1", retryStrategy: () => null });
    admin.on("error", () => {});
    return admin;
  };
  const kill = () => {
    if (child.exitCode === null) child.kill("SIGKILL");
  };
  process.once("exit", () => {
    kill();
    rmSync(dir, { recursive: true, force: true });
  });
  await launch();
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = once(child, "exit");
    const admin = adminClient();
    await admin.shutdown().catch(() => {});
    admin.disconnect();
    await exited;
  };
  return {
    port,
    pid: () => child.pid ?? 0,
    restart: async () => {
      await stop();
      return await launch();
    },
    async memory() {
      const admin = adminClient();
      try {
        const info = await admin.info("memory");
        const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(info)?.[1] ?? 0);
        return { used: field("used_memory"), rss: field("used_memory_rss") };
      } finally {
        admin.disconnect();
      }
    },
    client: () => new Redis({ port, host: "127.0.0.1", enableAutoPipelining: true }),
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Fills the board with `entries` players (`player-<i>`, score `scoreOf(i)`), in ZADDs of 5,000 members; then
 * rewrites the append-only file (BGREWRITEAOF, waited for), as a Redis that has run for a while has it compacted.
 */
export async function seedRedisBoard(peer: RedisPeer, entries: number, scoreOf: (i: number) => number) {
  const redis = peer.client();
  try {
    for (let from = 0; from < entries; from += 5_000) {
      const args: (string | number)[] = [];
      for (let i = from; i < Math.min(entries, from + 5_000); i++) args.push(scoreOf(i), `player-${i}`);
      await redis.zadd(BOARD, ...args);
    }
    await redis.bgrewriteaof();
    for (;;) {
      const info = await redis.info("persistence");
      if (/^aof_rewrite_in_progress:0/m.test(info) && /^aof_rewrite_scheduled:0/m.test(info)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const count = await redis.zcard(BOARD);
    if (count !== entries) throw new Error(`the Redis board holds ${count} members, not ${entries}`);
  } finally {
    redis.disconnect();
  }
}

/** Which of the product's calls a Redis caller makes. */
export type RedisCall = "submit" | "rank" | "around";

/**
 * The Redis peer's calls over `connections` connections (ioredis, auto-pipelining: the commands of one tick go out
 * in one write), the i-th naming `players[i % players.length]`: EVALSHA of the call's script (ioredis defineCommand).
 */
export async function redisCaller(
  peer: RedisPeer,
  kind: RedisCall,
  players: string[],
  connections: number,
  around: number,
): Promise<Caller> {
  const clients = Array.from({ length: connections }, () => {
    const client = peer.client();
    client.defineCommand(kind, { numberOfKeys: 1, lua: SCRIPTS[kind] });
    return client as Redis & Record<RedisCall, (...args: (string | number)[]) => Promise<unknown>>;
  });
  await Promise.all(clients.map((c) => c.ping()));
  return {
    async call(i) {
      const client = clients[i % clients.length] as (typeof clients)[number];
      const player = players[i % players.length] as string;
      if (kind === "submit") await client.submit(BOARD, 1, player);
      else if (kind === "rank") await client.rank(BOARD, player);
      else await client.around(BOARD, player, around);
    },
    async close() {
      for (const client of clients) client.disconnect();
    },
  };
}
