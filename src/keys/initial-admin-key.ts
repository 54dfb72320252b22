import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Clock } from "../clock.js";
import type { KeyStore } from "./key-store.js";

/**
 * On a first start with no key at all, makes one admin key and writes it to `file` (mode 0600, readable only by
 * the user running the server) rather than to the log, where it would end up in log storage. Returns the key's
 * id when one was made.
 */
export function ensureInitialAdminKey(keys: KeyStore, clock: Clock, file: string): Promise<string | undefined> {
  // Written inside the key's transaction: a key nobody can read is never kept.
  return keys.createFirstAdminKey(clock.now(), (key) => {
    // Its folder is the database's on SQLite; on PostgreSQL nothing else made it.
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    chmodSync(file, 0o600); // the mode above applies only to a new file
  });
}
