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
  options: { server: boolean; onBatch?: (size: number) => void },
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
    });
  }
  return openSqliteStorage(config.dbPath, {
    synchronous: config.dbSynchronous,
    serverLock: options.server,
    logger,
    onBatch: options.onBatch,
  });
}
