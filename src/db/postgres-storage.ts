import { type SQL, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import { PgDialect } from "drizzle-orm/pg-core";
import pg from "pg";
import type { Logger } from "pino";
import { type PostgresSslMode, postgresConnection } from "../config.js";
import { migrationsFolder } from "./migrations-folder.js";
import type { SqlClient, Storage, Transaction, TransactionOptions } from "./storage.js";
import { StorageTimeoutError, StorageUnavailableError } from "./storage-errors.js";

/** Options of {@link openPostgresStorage}. */
export interface PostgresStorageOptions {
  /** `postgres://` or `postgresql://` URL; its `sslmode` is read here, not by node-postgres. */
  url: string;
  poolSize: number;
  /** Opening a connection, or waiting for a free one in the pool. */
  connectTimeoutMs: number;
  /** `statement_timeout` of every pooled connection. */
  statementTimeoutMs: number;
  /** TLS; unset, the URL's `sslmode` (else disable); given with it, the two must agree (see postgresConnection). */
  sslMode?: PostgresSslMode | undefined;
  logger: Logger;
  applicationName?: string | undefined;
}

/** Session advisory lock held while migrating, so that servers starting together migrate once ("lvops-mg"). */
const MIGRATION_LOCK_KEY = 0x6c766f70732d6d67n;
/** Transaction advisory lock of the units of work that append to the change log ("lvops-cl"). */
const CHANGE_LOG_LOCK_KEY = 0x6c766f70732d636cn;
/** The first key of named locks (`Transaction.lockName`); the second is the name's hash ("lo"). */
const NAMED_LOCKS_CLASS = 0x6c6f;
/** SQLSTATEs after which a unit of work was rolled back by the server and may simply run again. */
const RETRYABLE = new Set(["40001", "40P01"]);
const MAX_ATTEMPTS = 4;
const CHECK_INTERVAL_MS = 1000;
/** A unit of work awaits only its own statements: a transaction idle this long belongs to a stuck process. */
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 30_000;

/** Socket errors, then SQLSTATEs admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections. */
const UNAVAILABLE_CODES = new Set(
  ["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "EPIPE"].concat([
    "57P01",
    "57P02",
    "57P03",
    "53300",
  ]),
);
/** node-postgres's own (never localized) messages for a connection that failed, broke or timed out. */
const DRIVER_FAILURES =
  /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Client was closed)/;

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Whether `err` says the database cannot be reached or the connection is gone (rather than a statement failing). */
function isConnectionFailure(err: unknown): boolean {
  if (err instanceof StorageUnavailableError) return true;
  if (err instanceof AggregateError && err.errors.some(isConnectionFailure)) return true;
  const code = codeOf(err) ?? "";
  // Class 08: connection_exception.
  if (UNAVAILABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
  return err instanceof Error && DRIVER_FAILURES.test(err.message);
}

/**
 * The port's error for a driver error: unavailable, timeout, or the error itself. Every 57014 (query_canceled) is a
 * timeout: this service never cancels its statements, so a cancel is statement_timeout (or an operator's
 * pg_cancel_backend, which asks the same of the caller: try later); the server's message cannot tell them apart in
 * every locale.
 */
function toStorageError(err: unknown): unknown {
  if (err instanceof StorageUnavailableError || err instanceof StorageTimeoutError) return err;
  if (isConnectionFailure(err)) return new StorageUnavailableError(undefined, { cause: err });
  if (codeOf(err) === "57014") return new StorageTimeoutError(undefined, { cause: err });
  return err;
}

function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError("an int8 value is beyond the safe integers of JavaScript");
  return value;
}

function parseNumeric(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || (Number.isInteger(value) && !Number.isSafeInteger(value))) {
    throw new RangeError("a numeric value is not a finite number within the safe integers of JavaScript");
  }
  return value;
}

/**
 * Type parsers of our connections only (the global pg.types stay as they are): int8 (counts, millisecond times) and
 * numeric (sums) as numbers. A parser that throws fails its statement, which is better than a silently rounded id.
 */
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === pg.types.builtins.INT8) return parseInt8;
    if (oid === pg.types.builtins.NUMERIC) return parseNumeric;
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig["getTypeParser"],
};

function sslOf(mode: PostgresSslMode): pg.ClientConfig["ssl"] {
  if (mode === "disable") return false;
  return { rejectUnauthorized: mode === "verify-full" };
}

/** The node-postgres configuration of one connection to `options.url` (TLS from our mode, never from the URL). */
function clientConfig(options: Pick<PostgresStorageOptions, "url" | "sslMode" | "applicationName">): pg.ClientConfig {
  const connection = postgresConnection(options.url, options.sslMode);
  if ("error" in connection) throw new Error(`the PostgreSQL URL or sslMode is invalid: ${connection.error}`);
  return {
    connectionString: connection.value.connectionString,
    ssl: sslOf(connection.value.sslMode),
    application_name: options.applicationName ?? "liveops",
    keepAlive: true,
    types,
  };
}

const dialect = new PgDialect();
type Query = (text: string, values: unknown[]) => Promise<pg.QueryResult>;

/** A {@link SqlClient} whose drizzle `sql` statements run through `query` with `$n` parameters. */
function sqlClient(query: Query): SqlClient {
  const execute = (statement: SQL) => {
    const { sql: text, params } = dialect.sqlToQuery(statement);
    return query(text, params);
  };
  return {
    dialect: "postgres",
    all: async <T>(statement: SQL) => (await execute(statement)).rows as T[],
    get: async <T>(statement: SQL) => (await execute(statement)).rows[0] as T | undefined,
    run: async (statement: SQL) => (await execute(statement)).rowCount ?? 0,
  };
}

/**
 * A pooled connection for the time it is checked out. The pool listens for errors of idle connections only, so one
 * that breaks while checked out would crash the process: the lease listens, and a broken connection is released
 * with its error so that the pool discards it.
 */
class Lease {
  broken: unknown;
  private readonly onError = (err: Error) => {
    this.broken ??= err;
  };
  constructor(readonly client: pg.PoolClient) {
    client.on("error", this.onError);
  }
  async query(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
    try {
      return await this.client.query(text, values);
    } catch (err) {
      if (isConnectionFailure(err)) this.broken ??= err;
      throw err;
    }
  }
  release(): void {
    this.client.removeListener("error", this.onError);
    this.client.release(this.broken !== undefined);
  }
}

/** The turn of a unit of work that appends to the change log: its `committed` runs after those that locked before. */
interface ChangeLogTurn {
  previous: Promise<void>;
  done: () => void;
}

/**
 * Applies the pending migrations of drizzle/postgres/ on one dedicated connection that holds a session advisory lock
 * meanwhile, so that servers starting at once migrate exactly once (the others wait, then find nothing to do).
 */
export async function migratePostgres(
  connection: string | pg.ClientConfig,
  logger: Pick<Logger, "info" | "warn">,
): Promise<void> {
  const config = typeof connection === "string" ? clientConfig({ url: connection }) : connection;
  const client = new pg.Client(config);
  client.on("error", (err) => logger.warn({ err }, "the migration connection to the database failed"));
  try {
    await client.connect();
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY.toString()]);
    try {
      const before = await appliedMigrations(client);
      await migrate(drizzle({ client }), { migrationsFolder: migrationsFolder("postgres") });
      const after = await appliedMigrations(client);
      if (after > before) logger.info({ applied: after - before, total: after }, "database migrations applied");
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY.toString()]).catch(() => {});
    }
  } finally {
    await client.end().catch(() => {});
  }
}

async function appliedMigrations(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ present: boolean }>(
    "SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS present",
  );
  if (!rows[0]?.present) return 0;
  const counted = await client.query<{ count: number }>(
    "SELECT count(*)::int AS count FROM drizzle.__drizzle_migrations",
  );
  return counted.rows[0]?.count ?? 0;
}

/**
 * The PostgreSQL {@link Storage}. It returns at once, whether or not the database answers: a background task
 * migrates once the database is reachable (retrying every second) and then checks it every second. Until the
 * migrations are done, isReady() is false and every read and unit of work fails fast with StorageUnavailableError.
 */
export async function openPostgresStorage(options: PostgresStorageOptions): Promise<Storage> {
  const { logger, connectTimeoutMs, statementTimeoutMs } = options;
  const base = { ...clientConfig(options), connectionTimeoutMillis: connectTimeoutMs };
  const pool = new pg.Pool({
    ...base,
    max: options.poolSize,
    statement_timeout: statementTimeoutMs,
    idle_in_transaction_session_timeout: Math.max(IDLE_IN_TRANSACTION_TIMEOUT_MS, statementTimeoutMs),
    // A backstop for a network that drops packets silently: the server's statement_timeout answers first.
    query_timeout: statementTimeoutMs + connectTimeoutMs,
  });
  const health = new HealthCheck(base, connectTimeoutMs, logger);
  const inFlight = new Set<Promise<unknown>>();
  let changeLogTail: Promise<void> = Promise.resolve();
  let closing: Promise<void> | undefined;

  pool.on("error", (err) => {
    logger.warn({ err }, "an idle database connection failed");
    health.checkSoon();
  });

  function fail(err: unknown): unknown {
    const mapped = toStorageError(err);
    if (mapped instanceof StorageUnavailableError) health.checkSoon();
    return mapped;
  }

  function admit(): void {
    if (closing) throw new StorageUnavailableError("the storage is closed");
    if (!health.migrated) throw new StorageUnavailableError("the database is not reachable yet");
  }

  async function lease(): Promise<Lease> {
    try {
      return new Lease(await pool.connect());
    } catch (err) {
      throw fail(err);
    }
  }

  const reads = sqlClient(async (text, values) => {
    admit();
    const connection = await lease();
    try {
      return await connection.query(text, values);
    } catch (err) {
      throw fail(err);
    } finally {
      connection.release();
    }
  });

  /** One attempt at a unit of work on its own connection; `retryable` tells whether the server rolled it back. */
  async function attempt<T>(
    work: (tx: Transaction) => Promise<T>,
    options: TransactionOptions<T>,
  ): Promise<{ value: T } | { err: unknown; retryable: boolean }> {
    const connection = await lease();
    if (options.signal?.aborted) {
      connection.release();
      throw options.signal.reason;
    }
    let retryable = false;
    let ended = false;
    let turn: ChangeLogTurn | undefined;
    const query: Query = async (text, values) => {
      // The connection is back in the pool: a statement now would run in somebody else's transaction.
      if (ended) throw new Error("a statement of a unit of work that has ended");
      try {
        return await connection.query(text, values);
      } catch (err) {
        if (RETRYABLE.has(codeOf(err) ?? "")) retryable = true;
        throw fail(err);
      }
    };
    const tx: Transaction = {
      ...sqlClient(query),
      forUpdate: sql` FOR UPDATE`,
      lockName: async (name, mode) => {
        const lock = mode === "shared" ? "pg_advisory_xact_lock_shared" : "pg_advisory_xact_lock";
        await query(`SELECT ${lock}(${NAMED_LOCKS_CLASS}, hashtext($1))`, [name]);
      },
      lockChangeLog: async () => {
        await query(`SELECT pg_advisory_xact_lock(${CHANGE_LOG_LOCK_KEY})`, []);
        // Lock order is commit order, and this line runs in lock order: hand out turns for `committed` here.
        if (turn) return;
        let done = () => {};
        const previous = changeLogTail;
        changeLogTail = new Promise((resolve) => {
          done = resolve;
        });
        turn = { previous, done };
      },
    };
    let value: T;
    try {
      await query("BEGIN ISOLATION LEVEL READ COMMITTED", []);
      value = await work(tx);
      // A transaction that failed (a statement's error caught inside `work`) answers COMMIT with ROLLBACK.
      const ended = await query("COMMIT", []);
      if (ended.command !== "COMMIT") throw new Error("the transaction was rolled back by the database at COMMIT");
    } catch (err) {
      if (connection.broken === undefined) {
        await connection.client.query("ROLLBACK").catch((rollbackErr: unknown) => {
          connection.broken = rollbackErr;
        });
      }
      if (turn) void turn.previous.then(turn.done);
      return { err, retryable: retryable || RETRYABLE.has(codeOf(err) ?? "") };
    } finally {
      ended = true;
      connection.release();
    }
    if (turn) await turn.previous;
    try {
      options.committed?.(value);
    } finally {
      turn?.done();
    }
    return { value };
  }

  /** The last unit of each queue (see TransactionOptions.queue). */
  const queues = new Map<string, Promise<unknown>>();

  function withTransaction<T>(work: (tx: Transaction) => Promise<T>, options: TransactionOptions<T> = {}): Promise<T> {
    const { queue } = options;
    if (queue === undefined) return runUnit(work, options);
    const previous = queues.get(queue) ?? Promise.resolve();
    const unit = previous.then(() => runUnit(work, options));
    const settled = unit.catch(() => {});
    queues.set(queue, settled);
    void settled.then(() => {
      if (queues.get(queue) === settled) queues.delete(queue);
    });
    return unit;
  }

  async function runUnit<T>(work: (tx: Transaction) => Promise<T>, options: TransactionOptions<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      if (options.signal?.aborted) throw options.signal.reason;
      admit();
      const outcome = await attempt(work, options);
      if ("value" in outcome) return outcome.value;
      if (!outcome.retryable || tries >= MAX_ATTEMPTS) throw outcome.err;
      logger.debug({ attempt: tries, code: codeOf(outcome.err) }, "a unit of work was rolled back; running it again");
      await delay(5 * 2 ** tries * (0.5 + Math.random()));
    }
  }

  health.checkSoon();
  return {
    dialect: "postgres",
    reads,
    withTransaction(work, options) {
      const unit = withTransaction(work, options);
      const tracked = unit.catch(() => {});
      inFlight.add(tracked);
      void tracked.finally(() => inFlight.delete(tracked));
      return unit;
    },
    migrated: () => health.migration,
    isReady: () => !closing && health.ready,
    close() {
      closing ??= (async () => {
        await health.stop();
        await boundedWait([...inFlight], statementTimeoutMs + connectTimeoutMs);
        await pool.end();
      })();
      return closing;
    },
  };
}

/**
 * The background task of one storage: migrates once the database answers, then runs `SELECT 1` every second (and
 * soon after any unavailable error) on a connection of its own, so a busy pool does not read as a database that is
 * down. Logs once per outage.
 */
class HealthCheck {
  migrated = false;
  private markMigrated: () => void = () => {};
  /** Resolves once the migrations are applied. */
  readonly migration = new Promise<void>((resolve) => {
    this.markMigrated = resolve;
  });
  ready = false;
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastProblem: string | undefined;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  /** Runs a step now unless one is running (its answer is as fresh). */
  checkSoon(): void {
    if (this.stopped || this.running) return;
    clearTimeout(this.timer);
    this.running = this.step().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      this.timer = setTimeout(() => this.checkSoon(), CHECK_INTERVAL_MS);
      this.timer.unref();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await boundedWait(this.running ? [this.running] : [], this.timeoutMs * 2);
    this.ready = false;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private async step(): Promise<void> {
    try {
      if (!this.migrated) {
        // Without the pool's statement_timeout: a migration may take long, and so may waiting for another's lock.
        await migratePostgres(this.config, this.logger);
        this.migrated = true;
        this.markMigrated();
      }
      if (!this.client) {
        // Stopped while migrating: no new connection outlives the storage.
        if (this.stopped) return;
        const client = new pg.Client({ ...this.config, query_timeout: this.timeoutMs });
        // Its next query fails and replaces it; nothing to do here but not crash.
        client.on("error", () => {});
        this.client = client;
        await client.connect();
        if (this.stopped) {
          this.client = undefined;
          await client.end().catch(() => {});
          return;
        }
      }
      await this.client.query("SELECT 1");
      if (this.lastProblem !== undefined) this.logger.info("the database answers again");
      this.lastProblem = undefined;
      this.ready = !this.stopped;
    } catch (err) {
      this.ready = false;
      const client = this.client;
      this.client = undefined;
      void client?.end().catch(() => {});
      this.report(err);
    }
  }

  private report(err: unknown): void {
    const unavailable = isConnectionFailure(err);
    const problem = unavailable ? "unavailable" : String((err as Error)?.message);
    if (problem === this.lastProblem) return;
    this.lastProblem = problem;
    const stage = this.migrated ? "" : "; migrations wait for it";
    if (unavailable) this.logger.warn({ err }, `the database is not reachable${stage}; checking every second`);
    else this.logger.error({ err }, `the database check or its migrations failed${stage}; retrying every second`);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for `promises` to settle, at most `ms`. */
async function boundedWait(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([Promise.allSettled(promises), timeout]);
  clearTimeout(timer);
}
