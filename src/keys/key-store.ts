import type { JsonObject } from "@bufbuild/protobuf";
import { and, count, desc, eq, lt, or, sql } from "drizzle-orm";
import { type AuditActor, appendAuditEntry, diffFields } from "../audit/audit-log.js";
import type { RateSetting } from "../auth/rate-limits.js";
import type { Role } from "../auth/roles.js";
import type { Db, Tx } from "../db/database.js";
import { apiKeys } from "../db/schema.js";
import { isTimestampMs } from "../timestamps.js";
import { generateApiKey } from "./api-key.js";

/** An API key as stored (never its secret). */
export type ApiKeyRow = typeof apiKeys.$inferSelect;

/** A key's own rate limit. */
export type KeyRateLimit = RateSetting;

/** A position in the newest-first order of keys. */
export interface KeyCursor {
  createTime: number;
  id: string;
}

/** The outcome of a change to an existing key. */
export type KeyWriteResult = { kind: "ok"; row: ApiKeyRow; key?: string } | { kind: "not_found" } | { kind: "revoked" };

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** What the audit log shows of a key: never a secret or a hash. */
function auditJson(row: ApiKeyRow): JsonObject {
  return {
    name: row.name,
    role: row.role,
    expire_time: iso(row.expireTime),
    revoke_time: iso(row.revokeTime),
    rotate_time: iso(row.rotateTime),
    previous_secret_expire_time: iso(row.previousSecretExpireTime),
    rate_limit:
      row.rateLimitPerSecond === null ? null : { per_second: row.rateLimitPerSecond, burst: row.rateLimitBurst },
  };
}

/** Refuses to store a time that could not be read back (callers validate first; this is the last guard). */
function assertStorableTime(ms: number | undefined, what: string): void {
  if (ms !== undefined && !isTimestampMs(ms)) throw new RangeError(`a key's ${what} of ${ms} ms cannot be stored`);
}

/** How stale another connection's key change may be when it is noticed, in milliseconds. */
const EXTERNAL_CHECK_MS = 1;

/** A point in the history of stored keys, see `keysChangedSince`. */
export interface KeysMark {
  local: number;
  external: number;
}

/** Drizzle queries of API keys. Every change appends its audit entry in its own transaction. */
export function createKeyStore(db: Db) {
  // Runs on every call: prepared once.
  const findById = db
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.id, sql.placeholder("id")))
    .prepare();
  /** Changes when another connection (the keys CLI, another process) commits to the database. */
  const dataVersion = db.$client.prepare("PRAGMA data_version").pluck();
  /** Changes made to existing keys through this store. */
  let localChanges = 0;
  let external = 0;
  let externalCheckedAt = Number.NEGATIVE_INFINITY;

  const insertKey = (
    tx: Tx,
    input: { name: string; role: Role; expireTime?: number | undefined; rateLimit?: KeyRateLimit | undefined },
    now: number,
    actor: AuditActor,
  ) => {
    assertStorableTime(input.expireTime, "expire time");
    const made = generateApiKey();
    const row = tx
      .insert(apiKeys)
      .values({
        id: made.id,
        name: input.name,
        role: input.role,
        secretHash: made.secretHash,
        createTime: now,
        expireTime: input.expireTime ?? null,
        rateLimitPerSecond: input.rateLimit?.perSecond ?? null,
        rateLimitBurst: input.rateLimit?.burst ?? null,
      })
      .returning()
      .get();
    appendAuditEntry(tx, actor, now, { type: "api_key", id: row.id }, diffFields(undefined, auditJson(row)));
    return { row, key: made.key };
  };

  /** Reads a key, lets `change` compute new columns, writes them and audits the difference. */
  const changeListeners = new Set<() => void>();
  const changeKey = (
    id: string,
    now: number,
    actor: AuditActor,
    change: (current: ApiKeyRow) => Partial<ApiKeyRow> | "revoked" | "unchanged",
    key?: string,
  ): KeyWriteResult => {
    const before = localChanges;
    const result: KeyWriteResult = db.transaction(
      (tx) => {
        const current = tx.select().from(apiKeys).where(eq(apiKeys.id, id)).get();
        if (!current) return { kind: "not_found" };
        const columns = change(current);
        if (columns === "revoked") return { kind: "revoked" };
        if (columns === "unchanged") return { kind: "ok", row: current };
        const row = tx.update(apiKeys).set(columns).where(eq(apiKeys.id, id)).returning().get();
        if (!row) throw new Error(`api key ${id} vanished inside its transaction`);
        localChanges++;
        appendAuditEntry(tx, actor, now, { type: "api_key", id }, diffFields(auditJson(current), auditJson(row)));
        return key === undefined ? { kind: "ok", row } : { kind: "ok", row, key };
      },
      { behavior: "immediate" },
    );
    if (localChanges !== before) for (const listener of changeListeners) listener();
    return result;
  };

  return {
    /**
     * Calls `listener` after each committed change of a stored key through this store (not other connections);
     * returns the function that stops it.
     */
    onKeyChange(listener: () => void): () => void {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },

    findKeyById(id: string): ApiKeyRow | undefined {
      return findById.get({ id });
    },

    /**
     * Whether a stored key may have changed since `mark` (a value this returned before; undefined: unknown), and the
     * mark to compare with next time: a change through this store (its counter is bumped inside the transaction,
     * before anyone can observe the change) or a commit by another database connection (SQLite's data_version,
     * read at most once per {@link EXTERNAL_CHECK_MS}: the pragma costs as much as the key read it saves), such as
     * the keys CLI. Lets callers keep verified keys in memory.
     */
    keysChangedSince(mark: KeysMark | undefined): { changed: boolean; mark: KeysMark } {
      const now = performance.now();
      if (now - externalCheckedAt >= EXTERNAL_CHECK_MS) {
        external = dataVersion.get() as number;
        externalCheckedAt = now;
      }
      if (mark?.local === localChanges && mark.external === external) return { changed: false, mark };
      return { changed: true, mark: { local: localChanges, external } };
    },

    /** Up to `limit` keys after `after`, newest first. */
    listKeys(after: KeyCursor | undefined, limit: number): ApiKeyRow[] {
      const afterCursor = after
        ? or(
            lt(apiKeys.createTime, after.createTime),
            and(eq(apiKeys.createTime, after.createTime), lt(apiKeys.id, after.id)),
          )
        : undefined;
      return db
        .select()
        .from(apiKeys)
        .where(afterCursor)
        .orderBy(desc(apiKeys.createTime), desc(apiKeys.id))
        .limit(limit)
        .all();
    },

    /** Creates a key and returns it with the only copy of its secret. */
    createKey(
      input: { name: string; role: Role; expireTime?: number | undefined; rateLimit?: KeyRateLimit | undefined },
      now: number,
      actor: AuditActor,
    ) {
      return db.transaction((tx) => insertKey(tx, input, now, actor), { behavior: "immediate" });
    },

    /** Renames a key or changes its rate limit (null: back to the role's default). */
    updateKey(id: string, now: number, actor: AuditActor, values: { name?: string; rateLimit?: KeyRateLimit | null }) {
      return changeKey(id, now, actor, () => ({
        ...(values.name !== undefined ? { name: values.name } : {}),
        ...(values.rateLimit !== undefined
          ? { rateLimitPerSecond: values.rateLimit?.perSecond ?? null, rateLimitBurst: values.rateLimit?.burst ?? null }
          : {}),
      }));
    },

    /** Revokes a key, its previous secret included; revoking a revoked key changes nothing. */
    revokeKey(id: string, now: number, actor: AuditActor) {
      return changeKey(id, now, actor, (current) =>
        current.revokeTime !== null
          ? "unchanged"
          : { revokeTime: now, previousSecretHash: null, previousSecretExpireTime: null },
      );
    },

    /**
     * Gives a key a new secret. The current secret keeps working until `now + graceMs` (not at all for 0); a secret
     * from an earlier rotation stops now.
     */
    rotateKey(id: string, now: number, graceMs: number, actor: AuditActor) {
      if (graceMs > 0) assertStorableTime(now + graceMs, "previous secret expire time");
      const made = generateApiKey(id);
      return changeKey(
        id,
        now,
        actor,
        (current) =>
          current.revokeTime !== null
            ? "revoked"
            : {
                secretHash: made.secretHash,
                rotateTime: now,
                previousSecretHash: graceMs > 0 ? current.secretHash : null,
                previousSecretExpireTime: graceMs > 0 ? now + graceMs : null,
              },
        made.key,
      );
    },

    /** Records that a key was used at `now`. */
    touchKey(id: string, now: number): void {
      db.update(apiKeys).set({ lastUsedTime: now }).where(eq(apiKeys.id, id)).run();
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
          const actor = { actorKeyId: "server", method: "first start", requestId: "" };
          const { row, key } = insertKey(tx, { name: "initial-admin", role: "admin" }, now, actor);
          deliver(key);
          return row.id;
        },
        { behavior: "immediate" },
      );
    },
  };
}

/** The API key queries. */
export type KeyStore = ReturnType<typeof createKeyStore>;
