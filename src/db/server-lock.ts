import { realpathSync } from "node:fs";
import Sqlite from "better-sqlite3";
import { createPrivateFile } from "./file-modes.js";

/** The lock that makes a server the only one on its database file. */
export interface ServerLock {
  /** The companion file that carries the lock: `<database>.lock`. */
  readonly file: string;
  /** Lets another server take the file (the OS also releases it when the process ends, SIGKILL included). */
  release(): void;
}

/** Another live server holds the lock of the database file. */
export class DatabaseInUseError extends Error {
  constructor(
    readonly databaseFile: string,
    readonly lockFile: string,
  ) {
    super(
      `another liveops server is using ${databaseFile} (it holds ${lockFile}); only one server may run on a SQLite file: stop the other one first (the keys CLI works beside it)`,
    );
    this.name = "DatabaseInUseError";
  }
}

/**
 * Makes this process the only server on `databaseFile`, or throws {@link DatabaseInUseError} at once. Two servers on
 * one file would each trust their own caches, boards, limits and watchers, and silently disagree.
 *
 * The lock is SQLite's own on a companion file, `<database>.lock`: a connection in `locking_mode=EXCLUSIVE` keeps the
 * exclusive lock of its first write for its whole life. It is an OS (fcntl) lock, so it dies with the process, and
 * SQLite also arbitrates between connections of one process. The database file itself stays shared, so the keys CLI
 * works beside a running server. Nothing may open and close the lock file in this process while the lock is held:
 * closing any descriptor of a file drops the process's fcntl locks on it.
 */
export function acquireServerLock(databaseFile: string): ServerLock {
  // Beside the file itself, whatever symlink names it, so that no other path to it escapes the lock. (A hard link
  // is another name of the same file that nothing can tell apart from a copy: see the README.)
  const file = `${realpathSync(databaseFile)}.lock`;
  createPrivateFile(file);
  // No busy timeout: a held lock is an answer, not something to wait for.
  const connection = new Sqlite(file, { timeout: 0 });
  try {
    connection.pragma("locking_mode = EXCLUSIVE");
    // No -journal file beside the lock file.
    connection.pragma("journal_mode = MEMORY");
    connection.exec("BEGIN EXCLUSIVE; COMMIT");
  } catch (err) {
    connection.close();
    if ((err as { code?: unknown }).code === "SQLITE_BUSY") throw new DatabaseInUseError(databaseFile, file);
    throw err;
  }
  return {
    file,
    release() {
      if (connection.open) connection.close();
    },
  };
}
