import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Sqlite from "better-sqlite3";
import { type BetterSQLite3Database, drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import type { Logger } from "pino";
import { createPrivateFile, restrictToOwner } from "./file-modes.js";
import * as schema from "./schema.js";
import { acquireServerLock, type ServerLock } from "./server-lock.js";

/** The Drizzle database of the service. */
export type Db = BetterSQLite3Database<typeof schema> & { $client: Sqlite.Database };

/** A transaction (or a savepoint in one) on the database: the same query API as {@link Db}. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

/** An open, migrated database. */
export interface Database {
  readonly db: Db;
  readonly sqlite: Sqlite.Database;
  /** True while the file is open and answers a query. */
  isReady(): boolean;
  /** Checkpoints the WAL into the main file, closes the connection and releases the server lock. */
  close(): void;
}

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** `FULL` (default) survives power loss; `NORMAL` only a crash of the process. */
  synchronous?: "FULL" | "NORMAL";
  /** How long a writer waits for another connection's lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
  /**
   * Take the server lock (see acquireServerLock): true for the server, which refuses to start beside another one on
   * the same file; the keys CLI leaves it out and works beside a running server.
   */
  serverLock?: boolean;
  /** Where to say that an existing file's mode was tightened. */
  logger?: Pick<Logger, "warn">;
}

/**
 * The drizzle/ folder of the project. Found by walking up from this file, so it is the same whether the code
 * runs from src/ (tests) or from dist/src/ (npm start).
 */
function findMigrationsFolder(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "drizzle");
    if (existsSync(join(candidate, "meta", "_journal.json"))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("the drizzle/ migrations folder was not found");
    dir = parent;
  }
}

/**
 * Opens (creating it if needed, mode 0600 in a folder made 0700) the SQLite file at `path`, sets the pragmas this
 * service relies on, and applies every pending migration.
 */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): Database {
  let lock: ServerLock | undefined;
  if (path !== ":memory:" && path !== "") {
    createPrivateFile(path);
    if (options.serverLock) lock = acquireServerLock(path);
    restrictToOwner([path, `${path}-wal`, `${path}-shm`, ...(lock ? [lock.file] : [])], options.logger);
  }
  let sqlite: Sqlite.Database;
  try {
    sqlite = new Sqlite(path);
  } catch (err) {
    lock?.release();
    throw err;
  }
  try {
    // Set on every open: the connection that switched a file to WAL keeps FULL, later ones default to NORMAL.
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma(`synchronous = ${options.synchronous ?? "FULL"}`);
    sqlite.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
    sqlite.pragma("foreign_keys = ON");
    const db = drizzle(sqlite, { schema });
    migrate(db, { migrationsFolder: findMigrationsFolder() });
    const readyCheck = sqlite.prepare("SELECT 1");
    return {
      db,
      sqlite,
      isReady() {
        if (!sqlite.open) return false;
        try {
          readyCheck.get();
          return true;
        } catch {
          return false;
        }
      },
      close() {
        if (!sqlite.open) return;
        try {
          sqlite.pragma("wal_checkpoint(TRUNCATE)");
          sqlite.close();
        } finally {
          lock?.release();
        }
      },
    };
  } catch (err) {
    sqlite.close();
    lock?.release();
    throw err;
  }
}
