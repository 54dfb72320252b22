import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import Sqlite from "better-sqlite3";
import pg from "pg";
import { pino } from "pino";
import { PlayerService } from "../../gen/liveops/v1/player_service_pb.js";
import { type App, createApp } from "../../src/app.js";
import { apiKeyRoles, type Role, roles } from "../../src/auth/roles.js";
import { loadConfig } from "../../src/config.js";
import type { SqliteStorage } from "../../src/db/sqlite-storage.js";
import { loggerOptions } from "../../src/server/log-output.js";
import { createTestDatabase, type TestDatabase } from "./postgres.js";
import { createTestClock, type TestClock } from "./test-clock.js";

/** The storage backend this test run uses (the vitest project sets it): the same tests run on both. */
export const testBackend: "sqlite" | "postgres" =
  process.env.LIVEOPS_TEST_BACKEND === "postgres" ? "postgres" : "sqlite";

const databases = new Map<string, Promise<TestDatabase>>();

/**
 * The settings that put a server on this run's backend, for a server whose SQLite file would be `dbPath`: on
 * PostgreSQL, a database of its own for that path (the same one for every server started on it, so that restarts
 * find their data).
 */
export async function backendEnv(dbPath: string): Promise<Record<string, string>> {
  if (testBackend === "sqlite") return { DB_PATH: dbPath };
  let database = databases.get(dbPath);
  if (!database) {
    database = createTestDatabase();
    databases.set(dbPath, database);
  }
  return { DB_PATH: dbPath, DATABASE_URL: (await database).url };
}

/**
 * Rows of a query on what a server on `dbPath` stored, read the way a tool beside it would (the SQLite file itself,
 * after an integrity check; or its PostgreSQL database), whether or not the server runs.
 */
export async function storedRows<T>(dbPath: string, query: string): Promise<T[]> {
  if (testBackend === "sqlite") {
    const sqlite = new Sqlite(dbPath);
    try {
      const integrity = sqlite.pragma("integrity_check", { simple: true });
      if (integrity !== "ok") throw new Error(`${dbPath} failed its integrity check: ${integrity}`);
      return sqlite.prepare(query).all() as T[];
    } finally {
      sqlite.close();
    }
  }
  const client = new pg.Client({ connectionString: (await backendEnv(dbPath)).DATABASE_URL });
  await client.connect();
  try {
    return (await client.query(query)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Drops the PostgreSQL database of `dbPath`, if one was made. */
export async function dropBackend(dbPath: string): Promise<void> {
  const database = databases.get(dbPath);
  databases.delete(dbPath);
  await (await database)?.drop();
}

/** Limits high enough that only the tests about limits meet them. */
export const generousLimits = {
  RATE_LIMITS: roles.map((role) => `${role}=100000/1000000`).join(","),
  AUTH_FAILURE_LIMIT: "100000/1000000",
};

/** The audit actor of keys that tests make directly in the store. */
export const testActor = { actorKeyId: "test", method: "test setup", requestId: "" };

/** A real server on an ephemeral port with a new database in a temporary folder. */
export interface TestServer {
  app: App;
  clock: TestClock;
  baseUrl: string;
  port: number;
  dir: string;
  dbPath: string;
  /** One key per role; for `player`, a player token (24 hours) of player {@link TEST_PLAYER}. */
  keys: Record<Role, string>;
  /** Every log line the server wrote, parsed. */
  logs: Record<string, unknown>[];
  /** The raw log output. */
  rawLogs(): string;
  close(): Promise<void>;
}

/** The player of the test server's player token. */
export const TEST_PLAYER = "test-player";

/** A player token for `playerId`, minted through PlayerService.CreatePlayerToken with `key`. */
export async function mintPlayerToken(baseUrl: string, key: string, playerId: string, ttlSeconds = 86_400) {
  const players = createClient(
    PlayerService,
    createConnectTransport({
      baseUrl,
      httpVersion: "1.1",
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${key}`);
          return next(req);
        },
      ],
    }),
  );
  const minted = await players.createPlayerToken({ playerId, ttl: { seconds: BigInt(ttlSeconds) } });
  return minted.token;
}

/** Starts the real server in this process, listening on 127.0.0.1 port 0. */
export async function startTestServer(
  env: Record<string, string> = {},
  options: { dir?: string; clock?: TestClock } = {},
): Promise<TestServer> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "liveops-test-"));
  const dbPath = join(dir, "liveops.db");
  const config = loadConfig({
    PORT: "0",
    ...(await backendEnv(dbPath)),
    LOG_LEVEL: "info",
    ...generousLimits,
    ...env,
  });
  const clock = options.clock ?? createTestClock();
  const chunks: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = chunk.toString();
      chunks.push(text);
      for (const line of text.split("\n")) if (line.trim()) logs.push(JSON.parse(line));
      done();
    },
  });
  const logger = pino(loggerOptions(config.logLevel), sink);
  const app = await createApp({ config, logger, clock });
  const address = await app.listen(0, "127.0.0.1");
  const keys = {} as Record<Role, string>;
  for (const role of apiKeyRoles) {
    keys[role] = (await app.keys.createKey({ name: `test-${role}`, role }, clock.now(), testActor)).key;
  }
  const baseUrl = `http://127.0.0.1:${address.port}`;
  keys.player = await mintPlayerToken(baseUrl, keys.admin, TEST_PLAYER);
  return {
    app,
    clock,
    baseUrl: `http://127.0.0.1:${address.port}`,
    port: address.port,
    dir,
    dbPath,
    keys,
    logs,
    rawLogs: () => chunks.join(""),
    async close() {
      await app.close(1000);
      if (!options.dir) {
        rmSync(dir, { recursive: true, force: true });
        await dropBackend(dbPath);
      }
    },
  };
}

/** The SQLite connection of a server on SQLite, for tests that look at the file itself. */
export function sqliteOf(app: App): SqliteStorage["sqlite"] {
  if (app.storage.dialect !== "sqlite") throw new Error("this server does not run on SQLite");
  return (app.storage as SqliteStorage).sqlite;
}
