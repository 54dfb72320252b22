import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * Live events. Times are integer UTC milliseconds. `rewards` and `metadata` are the protobuf JSON of the
 * event's rewards and metadata: they belong to the event and are always read with it.
 */
export const events = sqliteTable(
  "events",
  {
    id: text("id").primaryKey(),
    title: text("title").notNull(),
    description: text("description").notNull(),
    startTime: integer("start_time").notNull(),
    endTime: integer("end_time").notNull(),
    rewards: text("rewards").notNull(),
    metadata: text("metadata"),
    version: integer("version").notNull(),
    createTime: integer("create_time").notNull(),
    updateTime: integer("update_time").notNull(),
  },
  (t) => [
    // Serves listing in (start time, id) order and its keyset pagination.
    index("events_start_time_id_idx").on(t.startTime, t.id),
    // Serves "active now" and "upcoming": only events that have not ended are scanned.
    index("events_end_time_idx").on(t.endTime),
  ],
);

/**
 * CreateEvent idempotency records: a request id, a fingerprint of the request's event and the event it
 * created. Kept when the event is deleted, so that a late retry cannot create the event again.
 */
export const createRequests = sqliteTable("create_requests", {
  requestId: text("request_id").primaryKey(),
  fingerprint: text("fingerprint").notNull(),
  eventId: text("event_id").notNull(),
  createTime: integer("create_time").notNull(),
});

/**
 * API keys. Only SHA-256 hashes of secrets are stored; `id` is the public part of the key. After a rotation the
 * previous secret's hash is kept until `previousSecretExpireTime`.
 */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    role: text("role", { enum: ["viewer", "game_server", "operator", "admin"] }).notNull(),
    secretHash: text("secret_hash").notNull(),
    createTime: integer("create_time").notNull(),
    expireTime: integer("expire_time"),
    revokeTime: integer("revoke_time"),
    rotateTime: integer("rotate_time"),
    previousSecretHash: text("previous_secret_hash"),
    previousSecretExpireTime: integer("previous_secret_expire_time"),
    lastUsedTime: integer("last_used_time"),
    rateLimitPerSecond: integer("rate_limit_per_second"),
    rateLimitBurst: integer("rate_limit_burst"),
  },
  (t) => [index("api_keys_create_time_idx").on(t.createTime)],
);

/**
 * The audit log: one row per change, appended in the change's transaction. Triggers (migration 0002) refuse
 * UPDATE and DELETE. `changes` is JSON: {"field": {"before": …, "after": …}}.
 */
export const auditEntries = sqliteTable(
  "audit_entries",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    time: integer("time").notNull(),
    actorKeyId: text("actor_key_id").notNull(),
    method: text("method").notNull(),
    targetType: text("target_type").notNull(),
    targetId: text("target_id").notNull(),
    requestId: text("request_id").notNull(),
    changes: text("changes").notNull(),
  },
  (t) => [
    index("audit_entries_target_idx").on(t.targetId, t.id),
    index("audit_entries_actor_idx").on(t.actorKeyId, t.id),
    index("audit_entries_time_idx").on(t.time),
  ],
);

/** Server-wide values made once and kept, such as the key that signs page tokens. */
export const settings = sqliteTable("settings", {
  name: text("name").primaryKey(),
  value: text("value").notNull(),
});
