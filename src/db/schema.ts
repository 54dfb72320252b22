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

/** API keys. Only a SHA-256 of the secret is stored; `id` is the public part of the key. */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    role: text("role", { enum: ["viewer", "operator", "admin"] }).notNull(),
    secretHash: text("secret_hash").notNull(),
    createTime: integer("create_time").notNull(),
    expireTime: integer("expire_time"),
    revokeTime: integer("revoke_time"),
  },
  (t) => [index("api_keys_create_time_idx").on(t.createTime)],
);

/** Server-wide values made once and kept, such as the key that signs page tokens. */
export const settings = sqliteTable("settings", {
  name: text("name").primaryKey(),
  value: text("value").notNull(),
});
