import { chmodSync, closeSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "pino";

/** Owner read and write only: key hashes, the audit log and the page-token signing key are in these files. */
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates `path` with mode 0600 when it is missing, and its folder with mode 0700 when that is missing (every level
 * made here), so that no other local user can read what SQLite writes. SQLite gives `-wal` and `-shm` the mode of
 * the main file, so creating the main file first is what keeps them private too.
 */
export function createPrivateFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // "wx": only a missing file is opened (and created). Opening and closing an existing one could drop the fcntl
  // locks this process's SQLite connections hold on it: closing any descriptor of a file drops them all.
  try {
    closeSync(openSync(path, "wx", PRIVATE_FILE_MODE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
}

/**
 * Takes group and other permissions away from each existing file of `files` (made by an older version, or with a
 * looser umask), and says so in the log, since until now any local user could read them. A file this user may not
 * chmod (someone else's) is left as it is, with a warning.
 */
export function restrictToOwner(files: readonly string[], logger: Pick<Logger, "warn"> | undefined): void {
  for (const file of files) {
    let mode: number;
    try {
      mode = statSync(file).mode & 0o777;
    } catch {
      continue; // not there (yet): SQLite creates it from the main file's mode
    }
    if ((mode & 0o077) === 0) continue;
    const octal = (m: number) => `0${m.toString(8)}`;
    try {
      chmodSync(file, mode & 0o700);
      logger?.warn(
        { file, was: octal(mode), now: octal(mode & 0o700) },
        "database file was readable by others: made private",
      );
    } catch (err) {
      logger?.warn(
        { file, mode: octal(mode), err },
        "database file is readable by others and its mode cannot be changed",
      );
    }
  }
}
