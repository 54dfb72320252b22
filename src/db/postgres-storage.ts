import { type SQL, sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import pg from "pg";
import type { Logger } from "pino";
import { clientConfig, codeOf, isConnectionFailure, toStorageError } from "./postgres-connection.js";
import { boundedWait, PostgresSession } from "./postgres-session.js";
import type { PostgresSslMode } from "./postgres-url.js";
import { createQueryRenderer } from "./prepared-queries.js";
import type { PlaceholderValues, SqlClient, Storage, Transaction, TransactionOptions } from "./storage.js";
import { StorageUnavailableError } from "./storage-errors.js";

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
  /** Told each time the connection that listens for other processes' changes is made again after a failure. */
  onListenerReconnect?: () => void;
}

/** The PostgreSQL storage, and its pool for libraries that keep their own tables (rate-limiter-flexible). */
export interface PostgresStorage extends Storage {
  readonly dialect: "postgres";
  readonly pool: pg.Pool;
}

/** Whether `storage` is the PostgreSQL storage (and so has a pool that libraries may share). */
export function isPostgresStorage(storage: Storage): storage is PostgresStorage {
  return storage.dialect === "postgres" && "pool" in storage;
}

/** Transaction advisory lock of the units of work that append to the change log ("lvops-cl"). */
const CHANGE_LOG_LOCK_KEY = 0x6c766f70732d636cn;
/** The first key of named locks (`Transaction.lockName`); the second is the name's hash ("lo"). */
const NAMED_LOCKS_CLASS = 0x6c6f;
/** SQLSTATEs after which a unit of work was rolled back by the server and may simply run again. */
const RETRYABLE = new Set(["40001", "40P01"]);
const MAX_ATTEMPTS = 4;
/** A unit of work awaits only its own statements: a transaction idle this long belongs to a stuck process. */
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 30_000;

const dialect = new PgDialect();
type Query = (text: string, values: unknown[]) => Promise<pg.QueryResult>;

const render = createQueryRenderer(dialect);

/** A {@link SqlClient} whose drizzle `sql` statements run through `query` with `$n` parameters. */
function sqlClient(query: Query): SqlClient {
  const execute = (statement: SQL, values: PlaceholderValues | undefined) => {
    const { sql: text, params } = render(statement, values);
    return query(text, params);
  };
  return {
    dialect: "postgres",
    all: async <T>(statement: SQL, values?: PlaceholderValues) => (await execute(statement, values)).rows as T[],
    get: async <T>(statement: SQL, values?: PlaceholderValues) =>
      (await execute(statement, values)).rows[0] as T | undefined,
    run: async (statement: SQL, values?: PlaceholderValues) => (await execute(statement, values)).rowCount ?? 0,
  };
}

/**
 * A pooled connection for the time it is checked out. The pool listens for errors of idle connections only, so one
 * that breaks while checked out would crash the process: it listens, and a broken connection is released
 * with its error so that the pool discards it.
 */
class PooledConnection {
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
 * The PostgreSQL {@link Storage}. It returns at once, whether or not the database answers: a background task
 * migrates once the database is reachable (retrying every second) and then checks it every second. Until the
 * migrations are done, isReady() is false and every read and unit of work fails fast with StorageUnavailableError.
 */
export async function openPostgresStorage(options: PostgresStorageOptions): Promise<PostgresStorage> {
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
  const session = new PostgresSession(base, connectTimeoutMs, logger, options.onListenerReconnect);
  const inFlight = new Set<Promise<unknown>>();
  let changeLogTail: Promise<void> = Promise.resolve();
  let closing: Promise<void> | undefined;

  pool.on("error", (err) => {
    logger.warn({ err }, "an idle database connection failed");
    session.checkSoon();
  });

  function fail(err: unknown): unknown {
    const mapped = toStorageError(err);
    if (mapped instanceof StorageUnavailableError) session.checkSoon();
    return mapped;
  }

  function admit(): void {
    if (closing) throw new StorageUnavailableError("the storage is closed");
    if (!session.migrated) throw new StorageUnavailableError("the database is not reachable yet");
  }

  async function checkOut(): Promise<PooledConnection> {
    try {
      return new PooledConnection(await pool.connect());
    } catch (err) {
      throw fail(err);
    }
  }

  const reads = sqlClient(async (text, values) => {
    admit();
    const connection = await checkOut();
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
    const connection = await checkOut();
    if (options.signal?.aborted) {
      connection.release();
      throw options.signal.reason;
    }
    let retryable = false;
    let ended = false;
    let turn: ChangeLogTurn | undefined;
    let logged = false;
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
      logged: () => {
        logged = true;
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
      if (logged) session.changesCommitted();
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

  session.checkSoon();
  return {
    dialect: "postgres",
    pool,
    reads,
    withTransaction(work, options) {
      const unit = withTransaction(work, options);
      const tracked = unit.catch(() => {});
      inFlight.add(tracked);
      void tracked.finally(() => inFlight.delete(tracked));
      return unit;
    },
    migrated: () => session.migration,
    onChangesCommitted: (listener) => session.onChangesCommitted(listener),
    holdLease: (name, leaseOptions) => session.holdLease(name, leaseOptions),
    isReady: () => !closing && session.ready,
    close() {
      closing ??= (async () => {
        await session.stop();
        await boundedWait([...inFlight], statementTimeoutMs + connectTimeoutMs);
        await pool.end();
      })();
      return closing;
    },
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
