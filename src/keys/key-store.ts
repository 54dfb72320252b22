import { count, eq, sql } from "drizzle-orm";
import type { Role } from "../auth/roles.js";
import type { Db } from "../db/database.js";
import { apiKeys } from "../db/schema.js";
import { generateApiKey } from "./api-key.js";

/** An API key as stored (never its secret). */
export type ApiKeyRow = typeof apiKeys.$inferSelect;

/** Drizzle queries of API keys. */
export function createKeyStore(db: Db) {
  // Runs on every call: prepared once.
  const findById = db
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.id, sql.placeholder("id")))
    .prepare();
  return {
    findKeyById(id: string): ApiKeyRow | undefined {
      return findById.get({ id });
    },

    /** Creates a key and returns it with the only copy of its secret. */
    createKey(input: { name: string; role: Role; now: number; expireTime?: number }) {
      const made = generateApiKey();
      const row = db
        .insert(apiKeys)
        .values({
          id: made.id,
          name: input.name,
          role: input.role,
          secretHash: made.secretHash,
          createTime: input.now,
          expireTime: input.expireTime ?? null,
        })
        .returning()
        .get();
      return { row, key: made.key };
    },

    /**
     * Creates an admin key only when the database has no key at all, atomically, so that concurrent first starts
     * make one key between them. `deliver` receives the key inside the transaction: if it throws, no key is kept.
     * Returns the new key's id, or undefined when keys already exist.
     */
    createFirstAdminKey(now: number, deliver: (key: string) => void): string | undefined {
      return db.transaction(
        (tx) => {
          const existing = tx.select({ n: count() }).from(apiKeys).get()?.n ?? 0;
          if (existing > 0) return undefined;
          const made = generateApiKey();
          tx.insert(apiKeys)
            .values({ id: made.id, name: "initial-admin", role: "admin", secretHash: made.secretHash, createTime: now })
            .run();
          deliver(made.key);
          return made.id;
        },
        { behavior: "immediate" },
      );
    },
  };
}

/** The API key queries. */
export type KeyStore = ReturnType<typeof createKeyStore>;
