import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import type { Db } from "./database.js";
import { settings } from "./schema.js";

/**
 * A random secret made on first use and kept in the database, so that every process on the same file (server
 * restarts, the keys CLI) agrees on it.
 */
export function databaseSecret(db: Db, name: string): Buffer {
  db.insert(settings)
    .values({ name, value: randomBytes(32).toString("base64") })
    .onConflictDoNothing()
    .run();
  const row = db.select().from(settings).where(eq(settings.name, name)).get();
  if (!row) throw new Error(`setting ${name} is missing after insert`);
  return Buffer.from(row.value, "base64");
}
