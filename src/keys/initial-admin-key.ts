import { writeFileSync } from "node:fs";
import type { Clock } from "../clock.js";
import type { KeyStore } from "./key-store.js";

/**
 * On a first start with no key at all, makes one admin key and writes it to `file` (mode 0600, readable only by
 * the user running the server) rather than to the log, where it would end up in log storage. Returns the key's
 * id when one was made.
 */
export function ensureInitialAdminKey(keys: KeyStore, clock: Clock, file: string): string | undefined {
  const made = keys.createFirstAdminKey(clock.now());
  if (!made) return undefined;
  writeFileSync(file, `${made.key}\n`, { mode: 0o600, flag: "w" });
  return made.id;
}
