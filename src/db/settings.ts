import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Storage } from "./storage.js";

/**
 * A random secret made on first use and kept in the database, so that every process on the same database (server
 * restarts, other instances, the keys CLI) agrees on it.
 */
export async function databaseSecret(storage: Storage, name: string): Promise<Buffer> {
  const value = randomBytes(32).toString("base64");
  const row = await storage.withTransaction(async (tx) => {
    await tx.run(sql`INSERT INTO settings (name, value) VALUES (${name}, ${value}) ON CONFLICT (name) DO NOTHING`);
    return tx.get<{ value: string }>(sql`SELECT value FROM settings WHERE name = ${name}`);
  });
  if (!row) throw new Error(`setting ${name} is missing after insert`);
  return Buffer.from(row.value, "base64");
}
