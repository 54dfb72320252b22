import type { JsonObject } from "@bufbuild/protobuf";
import { type SQL, sql } from "drizzle-orm";
import { type AuditActor, appendAuditEntry, diffFields } from "../audit/audit-log.js";
import type { RateSetting } from "../auth/rate-limits.js";
import type { ApiKeyRole } from "../auth/roles.js";
import { appendClusterChange } from "../cluster/cluster-changes.js";
import type { SqlClient, Storage, Transaction } from "../db/storage.js";
import { isTimestampMs } from "../timestamps.js";
import { generateApiKey } from "./api-key.js";

/** An API key as stored (never its secret). */
export interface ApiKeyRow {
  id: string;
  name: string;
  role: ApiKeyRole;
  secretHash: string;
  createTime: number;
  expireTime: number | null;
  revokeTime: number | null;
  rotateTime: number | null;
  previousSecretHash: string | null;
  previousSecretExpireTime: number | null;
  lastUsedTime: number | null;
  rateLimitPerSecond: number | null;
  rateLimitBurst: number | null;
}

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

/** How stale another process's key change may be when it is noticed, in milliseconds. */
const EXTERNAL_CHECK_MS = 1;

/** A point in the history of stored keys, see `keysChangedSince`. */
export interface KeysMark {
  local: number;
  external: number;
}

const KEY_COLUMNS = sql.raw(`id, name, role, secret_hash AS "secretHash", create_time AS "createTime",
  expire_time AS "expireTime", revoke_time AS "revokeTime", rotate_time AS "rotateTime",
  previous_secret_hash AS "previousSecretHash", previous_secret_expire_time AS "previousSecretExpireTime",
  last_used_time AS "lastUsedTime", rate_limit_per_second AS "rateLimitPerSecond",
  rate_limit_burst AS "rateLimitBurst"`);

/** The setting every change of a stored key bumps, in its transaction: how other processes notice it. */
const KEYS_REVISION = "keys_revision";

/** Counts a change of the stored keys, inside its transaction. */
async function bumpKeysRevision(tx: SqlClient) {
  await tx.run(sql`INSERT INTO settings (name, value) VALUES (${KEYS_REVISION}, '1')
    ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(settings.value AS INTEGER) + 1 AS TEXT)`);
}

/** Counts and logs a change of key `id`, inside its transaction: every instance drops what it kept of keys. */
async function keyChanged(tx: Transaction, id: string, now: number) {
  await bumpKeysRevision(tx);
  await appendClusterChange(tx, "key", id, {}, now);
}

/** Queries of API keys. Every change appends its audit entry in its own transaction. */
export function createKeyStore(storage: Storage) {
  const { reads } = storage;
  /** Changes of stored keys made through this store or read from the cluster change log. */
  let localChanges = 0;
  let external = 0;
  let externalCheckedAt = Number.NEGATIVE_INFINITY;
  let externalRead: Promise<void> | undefined;

  const findKeyById = (client: SqlClient, id: string, lock: SQL = sql.empty()) =>
    client.get<ApiKeyRow>(sql`SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = ${id}${lock}`);

  const insertKey = async (
    tx: Transaction,
    input: { name: string; role: ApiKeyRole; expireTime?: number | undefined; rateLimit?: KeyRateLimit | undefined },
    now: number,
    actor: AuditActor,
  ) => {
    assertStorableTime(input.expireTime, "expire time");
    const made = generateApiKey();
    const row = await tx.get<ApiKeyRow>(sql`
      INSERT INTO api_keys (id, name, role, secret_hash, create_time, expire_time, rate_limit_per_second,
        rate_limit_burst)
      VALUES (${made.id}, ${input.name}, ${input.role}, ${made.secretHash}, ${now}, ${input.expireTime ?? null},
        ${input.rateLimit?.perSecond ?? null}, ${input.rateLimit?.burst ?? null})
      RETURNING ${KEY_COLUMNS}`);
    if (!row) throw new Error("an inserted key was not returned");
    await keyChanged(tx, row.id, now);
    await appendAuditEntry(tx, actor, now, { type: "api_key", id: row.id }, diffFields(undefined, auditJson(row)));
    return { row, key: made.key };
  };

  /** Reads a key, lets `change` compute new columns, writes them and audits the difference. */
  const changeListeners = new Set<() => void>();
  const changeKey = async (
    id: string,
    now: number,
    actor: AuditActor,
    change: (current: ApiKeyRow) => Partial<ApiKeyRow> | "revoked" | "unchanged",
    key?: string,
  ): Promise<KeyWriteResult> => {
    const result = await storage.withTransaction(
      async (tx): Promise<KeyWriteResult & { changed?: boolean }> => {
        const current = await findKeyById(tx, id, tx.forUpdate);
        if (!current) return { kind: "not_found" };
        const columns = change(current);
        if (columns === "revoked") return { kind: "revoked" };
        if (columns === "unchanged") return { kind: "ok", row: current };
        const next = { ...current, ...columns };
        const row = await tx.get<ApiKeyRow>(sql`
          UPDATE api_keys SET name = ${next.name}, secret_hash = ${next.secretHash}, expire_time = ${next.expireTime},
            revoke_time = ${next.revokeTime},
            rotate_time = ${next.rotateTime}, previous_secret_hash = ${next.previousSecretHash},
            previous_secret_expire_time = ${next.previousSecretExpireTime},
            rate_limit_per_second = ${next.rateLimitPerSecond}, rate_limit_burst = ${next.rateLimitBurst}
          WHERE id = ${id} RETURNING ${KEY_COLUMNS}`);
        if (!row) throw new Error(`api key ${id} vanished inside its transaction`);
        await keyChanged(tx, id, now);
        await appendAuditEntry(tx, actor, now, { type: "api_key", id }, diffFields(auditJson(current), auditJson(row)));
        const done = { kind: "ok" as const, row, changed: true };
        return key === undefined ? done : { ...done, key };
      },
      {
        committed: (outcome) => {
          if (outcome.changed) localChanges++;
        },
      },
    );
    if (result.changed) for (const listener of changeListeners) listener();
    const { changed: _, ...outcome } = result;
    return outcome;
  };

  const readExternal = () => {
    externalRead ??= reads
      .get<{ value: string }>(sql`SELECT value FROM settings WHERE name = ${KEYS_REVISION}`)
      .then(
        (row) => {
          external = Number(row?.value ?? 0);
        },
        () => {
          // Unknown: whatever was kept is dropped.
          external = Number.NaN;
        },
      )
      .finally(() => {
        externalRead = undefined;
      });
    return externalRead;
  };

  return {
    /**
     * A stored key was changed, as read from the cluster change log (through any process, this one included): what
     * callers kept is dropped (see `keysChangedSince`) and the listeners are told.
     */
    keysChanged() {
      localChanges++;
      for (const listener of changeListeners) listener();
    },

    /**
     * Calls `listener` after each committed change of a stored key through this store, and after each change by
     * another process read from the cluster change log; returns the function that stops it.
     */
    onKeyChange(listener: () => void): () => void {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },

    findKeyById(id: string): Promise<ApiKeyRow | undefined> {
      return findKeyById(reads, id);
    },

    /**
     * Whether a stored key may have changed since `mark` (a value this returned before; undefined: unknown), and the
     * mark to compare with next time: a change through this store (counted once committed, before its caller
     * learns of it) or a change by another process, such as the keys CLI, which bumps the stored keys revision
     * (read at most once per {@link EXTERNAL_CHECK_MS}). Lets callers keep verified keys in memory.
     */
    async keysChangedSince(mark: KeysMark | undefined): Promise<{ changed: boolean; mark: KeysMark }> {
      const now = performance.now();
      if (now - externalCheckedAt >= EXTERNAL_CHECK_MS) {
        externalCheckedAt = now;
        await readExternal();
      }
      if (mark?.local === localChanges && mark.external === external) return { changed: false, mark };
      return { changed: true, mark: { local: localChanges, external } };
    },

    /** Up to `limit` keys after `after`, newest first. */
    listKeys(after: KeyCursor | undefined, limit: number): Promise<ApiKeyRow[]> {
      const afterCursor = after
        ? sql`WHERE create_time < ${after.createTime} OR (create_time = ${after.createTime} AND id < ${after.id})`
        : sql.empty();
      return reads.all<ApiKeyRow>(
        sql`SELECT ${KEY_COLUMNS} FROM api_keys ${afterCursor} ORDER BY create_time DESC, id DESC LIMIT ${limit}`,
      );
    },

    /** Creates a key and returns it with the only copy of its secret. */
    createKey(
      input: { name: string; role: ApiKeyRole; expireTime?: number | undefined; rateLimit?: KeyRateLimit | undefined },
      now: number,
      actor: AuditActor,
    ) {
      return storage.withTransaction((tx) => insertKey(tx, input, now, actor));
    },

    /** Renames a key or changes its rate limit (null: back to the role's default). */
    updateKey(
      id: string,
      now: number,
      actor: AuditActor,
      values: { name?: string; rateLimit?: KeyRateLimit | null; expireTime?: number | null },
    ) {
      return changeKey(id, now, actor, () => ({
        ...(values.name !== undefined ? { name: values.name } : {}),
        ...(values.expireTime !== undefined ? { expireTime: values.expireTime } : {}),
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

    /** Records that a key was used at `now` (no audit entry, no revision: nothing a cache depends on). */
    async touchKey(id: string, now: number): Promise<void> {
      await storage.withTransaction((tx) => tx.run(sql`UPDATE api_keys SET last_used_time = ${now} WHERE id = ${id}`));
    },

    /**
     * Creates an admin key only when the database has no key at all, atomically, so that concurrent first starts
     * make one key between them. `deliver` receives the key inside the transaction: if it throws, no key is kept.
     * Returns the new key's id, or undefined when keys already exist.
     */
    createFirstAdminKey(now: number, deliver: (key: string) => void): Promise<string | undefined> {
      return storage.withTransaction(async (tx) => {
        // Taken first: it locks the revision's row, so a concurrent first start waits here until this one commits.
        await bumpKeysRevision(tx);
        const existing = await tx.get<{ n: number }>(sql`SELECT count(*) AS n FROM api_keys`);
        if (Number(existing?.n ?? 0) > 0) return undefined;
        const actor = { actorKeyId: "server", method: "first start", requestId: "" };
        const { row, key } = await insertKey(tx, { name: "initial-admin", role: "admin" }, now, actor);
        deliver(key);
        return row.id;
      });
    },
  };
}

/** The API key queries. */
export type KeyStore = ReturnType<typeof createKeyStore>;
