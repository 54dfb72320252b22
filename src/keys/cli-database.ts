import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import pg from "pg";
import { pino } from "pino";
import { type Config, ConfigError, loadConfig } from "../config.js";
import { databaseReached, openStorage } from "../db/open-storage.js";
import { clientConfig } from "../db/postgres-connection.js";
import type { Storage } from "../db/storage.js";
import { UsageError } from "./cli-options.js";

/** A failure of the command itself (not of how it was called): one line on stderr, exit code 1. */
export class CliFailure extends Error {
  override readonly name = "CliFailure";
}

/** Where the CLI's database is, and who said so (for the error that names it). */
export interface CliDatabaseChoice {
  config: Config;
  /** The absolute SQLite path, or undefined on PostgreSQL. */
  sqlitePath: string | undefined;
  /** What chose it: `--db`, `DB_PATH`, `the default`, `--database-url` or `DATABASE_URL`. */
  source: string;
}

/**
 * The configuration for `--db` / `--database-url` over the environment. `--db` names a SQLite file, so it also sets
 * a DATABASE_URL of the environment aside: what is typed on the command line is what is used.
 */
export function chooseDatabase(
  flags: { db?: string | undefined; databaseUrl?: string | undefined },
  env: Record<string, string | undefined>,
): CliDatabaseChoice {
  const merged = { ...env };
  if (flags.db !== undefined) {
    merged.DB_PATH = flags.db;
    delete merged.DATABASE_URL;
  }
  if (flags.databaseUrl !== undefined) merged.DATABASE_URL = flags.databaseUrl;
  let config: Config;
  try {
    config = loadConfig(merged);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // Named as the user gave them: a bad --database-url is not DATABASE_URL's fault.
    const named = err.problems.map((p) =>
      flags.databaseUrl !== undefined && p.startsWith("DATABASE_URL ")
        ? `--database-url ${p.slice("DATABASE_URL ".length)}`
        : flags.db !== undefined && p.startsWith("DB_PATH ")
          ? `--db ${p.slice("DB_PATH ".length)}`
          : p,
    );
    throw new UsageError(named.join("; "));
  }
  if (config.databaseUrl !== undefined) {
    return {
      config,
      sqlitePath: undefined,
      source: flags.databaseUrl !== undefined ? "--database-url" : "DATABASE_URL",
    };
  }
  const source = flags.db !== undefined ? "--db" : env.DB_PATH?.trim() ? "DB_PATH" : "the default";
  return { config, sqlitePath: resolve(config.dbPath), source };
}

/** Host, port and database of a PostgreSQL URL: never its user or password. */
export function postgresWhere(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname || "localhost"}:${parsed.port || "5432"}${parsed.pathname || "/"}`;
  } catch {
    return "(an invalid URL)";
  }
}

/** One line for a driver error; AggregateError (every address of a host refused) has no message of its own. */
export function errorLine(err: unknown): string {
  if (err instanceof AggregateError && err.message === "") {
    return [...new Set(err.errors.map(errorLine))].join("; ");
  }
  if (err instanceof Error)
    return (err.message || (err as NodeJS.ErrnoException).code || err.name).split("\n")[0] ?? "";
  return String(err);
}

/**
 * Log lines of the storage (file modes tightened, the database not answering yet) as one line each on stderr:
 * JSON with a stack trace is for the server's log, not for a terminal.
 */
function createCliLogger() {
  return pino(
    { level: "warn" },
    {
      write(line: string) {
        const entry = JSON.parse(line) as { msg?: string; file?: string; err?: { message?: string } };
        const detail = [entry.file, entry.err?.message].filter(Boolean).join(": ");
        process.stderr.write(`keys: ${entry.msg ?? ""}${detail ? ` (${detail})` : ""}\n`);
      },
    },
  );
}

/** Connects once, to fail at once with the driver's reason rather than wait for the storage's retries. */
async function probePostgres(config: Config): Promise<void> {
  const url = config.databaseUrl ?? "";
  const client = new pg.Client({
    ...clientConfig({ url, sslMode: config.dbSslMode, applicationName: "liveops-keys" }),
    connectionTimeoutMillis: config.dbConnectTimeoutMs,
  });
  // A connection error is reported by connect(); without a listener it would also end the process.
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new CliFailure(`cannot reach PostgreSQL at ${postgresWhere(url)}: ${errorLine(err)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Opens (and migrates) the chosen database for one command. A SQLite file that does not exist is refused unless
 * `create`: a mistyped path or another working folder would otherwise give a new, empty database whose keys the
 * server never sees.
 */
export async function openCliDatabase(choice: CliDatabaseChoice, create: boolean): Promise<Storage> {
  const { config, sqlitePath } = choice;
  if (sqlitePath !== undefined && existsSync(sqlitePath) && !statSync(sqlitePath).isFile()) {
    // Checked before opening, which would also tighten the mode of whatever is there.
    throw new UsageError(`${sqlitePath} (from ${choice.source}) is not a file: give the database file itself`);
  }
  if (sqlitePath !== undefined && !create && !existsSync(sqlitePath)) {
    throw new UsageError(
      `no database at ${sqlitePath} (from ${choice.source}): the server creates it on its first start; ` +
        "give the server's file with --db or DB_PATH, or --create to make a new one there",
    );
  }
  if (config.databaseUrl !== undefined) await probePostgres(config);
  let storage: Storage;
  try {
    storage = await openStorage({ ...config, dbPath: sqlitePath ?? config.dbPath, dbPoolSize: 2 }, createCliLogger(), {
      server: false,
    });
  } catch (err) {
    throw new CliFailure(`cannot open ${sqlitePath ?? postgresWhere(config.databaseUrl ?? "")}: ${errorLine(err)}`);
  }
  if (!(await databaseReached(storage, config.dbConnectTimeoutMs))) {
    await storage.close();
    const where = sqlitePath ?? postgresWhere(config.databaseUrl ?? "");
    throw new CliFailure(`the database at ${where} was not migrated within ${config.dbConnectTimeoutMs} ms`);
  }
  return storage;
}
