import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { openPostgresStorage } from "./postgres-storage.js";
import { openSqliteStorage } from "./sqlite-storage.js";
import type { Storage } from "./storage.js";

/**
 * The storage the configuration names: PostgreSQL when DATABASE_URL is set, else SQLite at DB_PATH. `server` takes
 * SQLite's server lock (one server per file); the keys CLI works beside a running server without it.
 */
export async function openStorage(
  config: Pick<
    Config,
    | "databaseUrl"
    | "dbPath"
    | "dbSynchronous"
    | "dbPoolSize"
    | "dbConnectTimeoutMs"
    | "dbStatementTimeoutMs"
    | "dbSslMode"
  >,
  logger: Logger,
  options: { server: boolean; onBatch?: (size: number) => void; onListenerReconnect?: () => void },
): Promise<Storage> {
  if (config.databaseUrl !== undefined) {
    return openPostgresStorage({
      url: config.databaseUrl,
      poolSize: config.dbPoolSize,
      connectTimeoutMs: config.dbConnectTimeoutMs,
      statementTimeoutMs: config.dbStatementTimeoutMs,
      sslMode: config.dbSslMode,
      logger,
      applicationName: options.server ? "liveops" : "liveops-keys",
      onListenerReconnect: options.onListenerReconnect,
    });
  }
  return openSqliteStorage(config.dbPath, {
    synchronous: config.dbSynchronous,
    serverLock: options.server,
    logger,
    onBatch: options.onBatch,
  });
}

/**
 * Whether the database was reached and migrated within `ms`. Its timer holds the process while it waits (nothing else
 * may: a server not listening yet, the keys CLI) and is cleared as soon as the database answers.
 */
export async function databaseReached(storage: Storage, ms: number): Promise<boolean> {
  const done = new AbortController();
  try {
    return await Promise.race([
      storage.migrated().then(() => true),
      sleep(ms, false, { signal: done.signal }).catch(() => false),
    ]);
  } finally {
    done.abort();
  }
}
