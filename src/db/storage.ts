import type { SQL } from "drizzle-orm";

/** Which database a {@link SqlClient} speaks to, for the few statements the two dialects write differently. */
export type Dialect = "sqlite" | "postgres";

/**
 * Runs statements written with drizzle's `sql` template (its parameters are rendered for the dialect), on a
 * connection or inside a transaction. Rows come back as the database names their columns (snake_case). Stores are
 * written once against it and run on both backends: times are integer milliseconds (`bigint` on PostgreSQL, read
 * back as numbers), booleans are written as the TRUE/FALSE literals both dialects accept and read back with
 * {@link flag}.
 */
export interface SqlClient {
  readonly dialect: Dialect;
  /** Every row of a query. */
  all<T>(query: SQL, values?: PlaceholderValues): Promise<T[]>;
  /** The first row of a query, if any. */
  get<T>(query: SQL, values?: PlaceholderValues): Promise<T | undefined>;
  /** Runs a statement and resolves with the number of rows it changed. */
  run(query: SQL, values?: PlaceholderValues): Promise<number>;
}

/**
 * The values of a prepared query's `sql.placeholder(name)`s, by name. A query run with values is one written once
 * (a module constant): each client renders its SQL text once and keeps it with the query, where a query built per
 * call is rendered per call (drizzle's own prepared statements, for the hot reads).
 */
export type PlaceholderValues = Record<string, unknown>;

/** The client of one unit of work: its statements run inside one transaction. */
export interface Transaction extends SqlClient {
  /**
   * ` FOR UPDATE` on PostgreSQL, where concurrent transactions lock the rows they read in order to change; empty on
   * SQLite, whose writers are serialized.
   */
  readonly forUpdate: SQL;
  /**
   * Serializes, until this transaction ends, the transactions that append to the change log, so that its sequence
   * order is its commit order (PostgreSQL; a no-op on SQLite, whose writers are serialized anyway).
   */
  lockChangeLog(): Promise<void>;
  /**
   * Holds the lock named `name` until this transaction ends, `shared` with other shared holders or `exclusive`
   * (PostgreSQL's transaction advisory locks: a shared request queues behind a waiting exclusive one, so a stream
   * of shared holders cannot starve it). A no-op on SQLite.
   */
  lockName(name: string, mode: "shared" | "exclusive"): Promise<void>;
  /**
   * Says that this unit appended to a change log: once it commits, the readers of the logs are woken, in this process
   * and (PostgreSQL) in every other one on the database (see {@link Storage.onChangesCommitted}).
   */
  logged(): void;
}

/** How a unit of work is run. */
export interface TransactionOptions<T> {
  /** A work whose caller has gone (deadline, cancel) before it started is not run: the promise rejects. */
  signal?: AbortSignal | undefined;
  /**
   * Units with the same queue name run one at a time in this process, each taking its connection only at its turn:
   * for units that serialize on a lock anyway (the change log's), so that waiting ones never hold every pooled
   * connection while reads need one. (SQLite's units all run one at a time.)
   */
  queue?: string | undefined;
  /** Runs after the commit and before the promise resolves, in commit order: to update memory with what is durable. */
  committed?: ((value: T) => void) | undefined;
}

/**
 * The database port: reads of committed data, units of work, readiness. SQLite (src/db/sqlite-storage.ts) and
 * PostgreSQL (src/db/postgres-storage.ts) implement it.
 */
export interface Storage {
  readonly dialect: Dialect;
  /** Reads outside any unit of work: they see committed data only. */
  readonly reads: SqlClient;
  /**
   * Runs `work` in a transaction that commits when it resolves and rolls back when it throws. On SQLite the units of
   * work queued together share one transaction (group commit), each in a savepoint of its own, and must await only
   * the statements of `tx` (which better-sqlite3 runs synchronously): never a timer, a worker or the network.
   */
  withTransaction<T>(work: (tx: Transaction) => Promise<T>, options?: TransactionOptions<T>): Promise<T>;
  /**
   * Resolves once the database has been reached and migrated (SQLite: at once); until then, on PostgreSQL, reads and
   * units of work fail at once with StorageUnavailableError. Never rejects: callers race it with their patience.
   */
  migrated(): Promise<void>;
  /**
   * Calls `listener` after a unit of work that {@link Transaction.logged} commits, when another process on the same
   * PostgreSQL database says it has (NOTIFY: a wake-up only, which may be lost or repeated), and when the connection
   * that listens for that is back after a failure (its wake-ups meanwhile are lost). Returns the function that
   * stops it.
   */
  onChangesCommitted(listener: () => void): () => void;
  /**
   * Holds the lease named `name` whenever this process can: at most one process on the database holds it at a time
   * (PostgreSQL: a session advisory lock on a connection of its own, tried every `retryMs`, lost with that
   * connection). `onChange` is told each time it is gained or lost. SQLite, with one server per file: held at once.
   */
  holdLease(name: string, options: { retryMs: number; onChange: (held: boolean) => void }): Lease;
  /** Whether the database answered its last check. */
  isReady(): boolean;
  /** Closes every connection (SQLite: after a checkpoint of the WAL). */
  close(): Promise<void>;
}

/** A lease being held or sought (see {@link Storage.holdLease}). */
export interface Lease {
  /** Whether this process holds it now. */
  readonly held: boolean;
  /** Resolves once this process has tried to take it (held or not), e.g. to start holding it before serving. */
  readonly tried: Promise<void>;
  /** Gives it up (if held) and stops seeking it. */
  release(): Promise<void>;
}

/** A boolean column as either database returns it (SQLite: 0/1, PostgreSQL: a boolean). */
export function flag(value: unknown): boolean {
  return value === true || value === 1;
}
