// The benchmark's databases: a new SQLite file, or a new database on the benchmark's throwaway PostgreSQL server,
// opened through the product's own storage (which applies its migrations) for seeding.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { pino } from "pino";
import { openPostgresStorage } from "../src/db/postgres-storage.js";
import { openSqliteStorage } from "../src/db/sqlite-storage.js";
import type { Storage } from "../src/db/storage.js";
import type { PostgresServer } from "./postgres-server.js";

/** A new database: the environment a liveops server finds it by, and the product's storage on it, migrated. */
export interface BenchDatabase {
  env: Record<string, string>;
  open(): Promise<Storage>;
}

/**
 * The product's storage on the PostgreSQL database at `url`, once migrated: a small pool, and statements allowed
 * `statementTimeoutMs` (bulk seeding runs long ones).
 */
export async function openBenchPostgres(url: string, statementTimeoutMs = 120_000): Promise<Storage> {
  const storage = await openPostgresStorage({
    url,
    poolSize: 2,
    connectTimeoutMs: 10_000,
    statementTimeoutMs,
    logger: pino({ level: "warn" }),
  });
  await storage.migrated();
  return storage;
}

/**
 * A new database named `name` (letters, digits and dashes): the SQLite file `<dir>/<name>.db`, or the database
 * `name` (dashes as underscores) on `postgres` when given, created now.
 */
export async function newBenchDatabase(
  name: string,
  dir: string,
  postgres: PostgresServer | undefined,
  options: { statementTimeoutMs?: number } = {},
): Promise<BenchDatabase> {
  if (!postgres) {
    const path = join(dir, `${name}.db`);
    return { env: { DB_PATH: path }, open: async () => openSqliteStorage(path) };
  }
  const database = name.replaceAll("-", "_");
  const admin = new pg.Client(postgres.url);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }
  const url = new URL(postgres.url);
  url.pathname = `/${database}`;
  // DB_PATH's folder holds a server's first admin key file, which the seeded keys make unnecessary.
  mkdirSync(join(dir, name), { recursive: true });
  return {
    env: { DATABASE_URL: url.toString(), DB_PATH: join(dir, name, "unused.db") },
    open: () => openBenchPostgres(url.toString(), options.statementTimeoutMs),
  };
}
