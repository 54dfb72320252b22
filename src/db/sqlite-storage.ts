import Sqlite from "better-sqlite3";
import { type SQL, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import type { Logger } from "pino";
import { createPrivateFile, restrictToOwner } from "./file-modes.js";
import { migrationsFolder } from "./migrations-folder.js";
import { createQueryRenderer } from "./prepared-queries.js";
import { acquireServerLock, type ServerLock } from "./server-lock.js";
import type { PlaceholderValues, SqlClient, Storage, Transaction, TransactionOptions } from "./storage.js";

/** The SQLite backend, with its connection for tests and tools that look at the file itself. */
export interface SqliteStorage extends Storage {
  readonly dialect: "sqlite";
  /** The connection that writes (and migrated the file). */
  readonly sqlite: Sqlite.Database;
}

/** Options of {@link openSqliteStorage}. */
export interface SqliteStorageOptions {
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
  /** Called with the number of units of work each group commit held. */
  onBatch?: (size: number) => void;
}

/**
 * A group commit takes no more units of work once it has run this long: a longer queue is committed in several
 * transactions, with reads and other I/O served between them.
 */
const BATCH_BUDGET_MS = 10;

/** Prepared statements kept per connection (by SQL text): preparing costs more than most of our queries. */
const STATEMENTS_KEPT = 512;

const dialect = new SQLiteSyncDialect();

const render = createQueryRenderer(dialect);

/** better-sqlite3 binds no booleans: SQLite stores them as 0 and 1. */
const bindable = (params: unknown[]) => params.map((p) => (typeof p === "boolean" ? (p ? 1 : 0) : p));

/** A {@link SqlClient} on one connection, with its statements prepared once. */
function clientOn(connection: Sqlite.Database): SqlClient {
  const statements = new Map<string, Sqlite.Statement>();
  const prepare = (query: SQL, values: PlaceholderValues | undefined): [Sqlite.Statement, unknown[]] => {
    const { sql: text, params } = render(query, values);
    let statement = statements.get(text);
    if (!statement) {
      if (statements.size >= STATEMENTS_KEPT) statements.clear();
      statement = connection.prepare(text);
      statements.set(text, statement);
    }
    return [statement, bindable(params)];
  };
  return {
    dialect: "sqlite",
    async all<T>(query: SQL, values?: PlaceholderValues) {
      const [statement, params] = prepare(query, values);
      return statement.all(...params) as T[];
    },
    async get<T>(query: SQL, values?: PlaceholderValues) {
      const [statement, params] = prepare(query, values);
      return statement.get(...params) as T | undefined;
    },
    async run(query: SQL, values?: PlaceholderValues) {
      const [statement, params] = prepare(query, values);
      return statement.run(...params).changes;
    },
  };
}

function setPragmas(connection: Sqlite.Database, options: SqliteStorageOptions) {
  // Set on every open: the connection that switched a file to WAL keeps FULL, later ones default to NORMAL.
  connection.pragma("journal_mode = WAL");
  connection.pragma(`synchronous = ${options.synchronous ?? "FULL"}`);
  connection.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
  connection.pragma("foreign_keys = ON");
}

interface Unit {
  work(tx: Transaction): Promise<unknown>;
  options: TransactionOptions<unknown>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/**
 * Opens (creating it if needed, mode 0600 in a folder made 0700) the SQLite file at `path`, sets the pragmas this
 * service relies on, and applies every pending migration.
 *
 * Two connections: one writes, inside units of work only; the other reads, and sees only what has committed (WAL).
 * Units of work queued in the same turn of the event loop run in one IMMEDIATE transaction, each in a savepoint of
 * its own (one that throws is rolled back alone and rejects alone), so that many concurrent writes cost one fsync
 * with `synchronous=FULL` (group commit). A unit awaits only the statements of its transaction, which
 * better-sqlite3 runs synchronously: the transaction holds the writing connection for a few microtasks, never
 * across I/O, and no other unit runs in it meanwhile. (`:memory:` has one connection for both.)
 */
export function openSqliteStorage(path: string, options: SqliteStorageOptions = {}): SqliteStorage {
  const inMemory = path === ":memory:" || path === "";
  let lock: ServerLock | undefined;
  if (!inMemory) {
    createPrivateFile(path);
    if (options.serverLock) lock = acquireServerLock(path);
    restrictToOwner([path, `${path}-wal`, `${path}-shm`, ...(lock ? [lock.file] : [])], options.logger);
  }
  const connections: Sqlite.Database[] = [];
  try {
    const writer = new Sqlite(path);
    connections.push(writer);
    setPragmas(writer, options);
    migrate(drizzle(writer), { migrationsFolder: migrationsFolder("sqlite") });
    const reader = inMemory ? writer : new Sqlite(path);
    if (reader !== writer) {
      connections.push(reader);
      setPragmas(reader, options);
      reader.pragma("query_only = ON");
    }
    return createStorage(writer, reader, lock, options);
  } catch (err) {
    for (const connection of connections) connection.close();
    lock?.release();
    throw err;
  }
}

function createStorage(
  writer: Sqlite.Database,
  reader: Sqlite.Database,
  lock: ServerLock | undefined,
  options: SqliteStorageOptions,
): SqliteStorage {
  /** The unit of work whose statements may run on the writer now: a transaction used after its work is a bug. */
  let current: Unit | undefined;
  const writes = clientOn(writer);
  const readyCheck = reader.prepare("SELECT 1");
  let queue: Unit[] = [];
  let flushing: Promise<void> | undefined;
  // Prepared once: every unit of a group commit runs two of them, and exec() parses its text each time.
  const control = {
    begin: writer.prepare("BEGIN IMMEDIATE"),
    savepoint: writer.prepare("SAVEPOINT unit"),
    release: writer.prepare("RELEASE unit"),
    rollbackTo: writer.prepare("ROLLBACK TO unit"),
    commit: writer.prepare("COMMIT"),
  };
  const changeListeners = new Set<() => void>();
  /** The units of the current batch that appended to a change log. */
  const logging = new Set<Unit>();

  const transactionFor = (unit: Unit): Transaction => {
    const inUnit = <R>(statement: () => Promise<R>): Promise<R> =>
      current === unit ? statement() : Promise.reject(new Error("a statement ran outside its unit of work"));
    return {
      dialect: "sqlite",
      forUpdate: sql.empty(),
      lockChangeLog: () => inUnit(async () => {}),
      lockName: () => inUnit(async () => {}),
      logged: () => {
        if (current === unit) logging.add(unit);
      },
      all: (query, values) => inUnit(() => writes.all(query, values)),
      get: (query, values) => inUnit(() => writes.get(query, values)),
      run: (query, values) => inUnit(() => writes.run(query, values)),
    };
  };

  const runBatch = async () => {
    const pending = queue;
    queue = [];
    const taken: Unit[] = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    const deadline = performance.now() + BATCH_BUDGET_MS;
    try {
      control.begin.run();
    } catch (error) {
      for (const unit of pending) unit.reject(error);
      return;
    }
    try {
      for (const unit of pending) {
        if (taken.length > 0 && performance.now() > deadline) break;
        taken.push(unit);
        if (unit.options.signal?.aborted) {
          outcomes.push({ ok: false, error: unit.options.signal.reason });
          continue;
        }
        control.savepoint.run();
        current = unit;
        try {
          const value = await unit.work(transactionFor(unit));
          control.release.run();
          outcomes.push({ ok: true, value });
        } catch (error) {
          control.rollbackTo.run();
          control.release.run();
          logging.delete(unit);
          outcomes.push({ ok: false, error });
        } finally {
          current = undefined;
        }
      }
      control.commit.run();
    } catch (error) {
      // The transaction itself failed (its savepoints' failures are the units' own): nothing was stored.
      try {
        if (writer.inTransaction) writer.exec("ROLLBACK");
      } catch {
        // A connection that cannot even roll back is closed or broken: the units learn the first error.
      }
      logging.clear();
      for (const unit of taken) unit.reject(error);
      queue = [...pending.slice(taken.length), ...queue];
      return;
    }
    const logged = logging.size > 0;
    logging.clear();
    // What this batch did not take goes first in the next one.
    queue = [...pending.slice(taken.length), ...queue];
    try {
      options.onBatch?.(taken.length);
    } catch {
      // A metric must not undo what committed.
    }
    taken.forEach((unit, i) => {
      const outcome = outcomes[i];
      if (!outcome?.ok) {
        unit.reject(outcome?.error);
        return;
      }
      try {
        unit.options.committed?.(outcome.value);
        unit.resolve(outcome.value);
      } catch (error) {
        // Committed, but memory could not follow: the caller learns it rather than the process crashing.
        unit.reject(error);
      }
    });
    if (logged) for (const listener of changeListeners) listener();
  };

  const flush = () => {
    scheduled = false;
    flushing = runBatch().finally(() => {
      flushing = undefined;
      // The next batch waits for the event loop's next turn: reads never wait behind a long queue of writes.
      if (queue.length > 0) schedule();
    });
  };
  let scheduled = false;
  let closing = false;
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };

  return {
    dialect: "sqlite",
    sqlite: writer,
    reads: clientOn(reader),
    withTransaction<T>(work: (tx: Transaction) => Promise<T>, unitOptions: TransactionOptions<T> = {}) {
      if (closing) return Promise.reject(new Error("the database is closed"));
      return new Promise<T>((resolve, reject) => {
        if (!flushing) schedule();
        queue.push({
          work,
          options: unitOptions as TransactionOptions<unknown>,
          resolve: resolve as (value: unknown) => void,
          reject,
        });
      });
    },
    migrated: () => Promise.resolve(),
    onChangesCommitted(listener) {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },
    holdLease(_name, { onChange }) {
      // One server per file (the server lock): it holds every lease.
      let held = true;
      onChange(true);
      return {
        get held() {
          return held;
        },
        tried: Promise.resolve(),
        async release() {
          if (held) onChange(false);
          held = false;
        },
      };
    },
    isReady() {
      if (!reader.open || !writer.open) return false;
      try {
        readyCheck.get();
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      closing = true;
      // Every unit queued before the close runs first.
      while (flushing || scheduled || queue.length > 0) {
        if (flushing) await flushing;
        else await new Promise((resolve) => setImmediate(resolve));
      }
      if (!writer.open) return;
      try {
        writer.pragma("wal_checkpoint(TRUNCATE)");
        if (reader !== writer) reader.close();
        writer.close();
      } finally {
        lock?.release();
      }
    },
  };
}
