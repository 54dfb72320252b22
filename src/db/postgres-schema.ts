import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  customType,
  index,
  integer,
  pgSequence,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
  varchar,
} from "drizzle-orm/pg-core";

/*
 * The PostgreSQL twin of schema.ts: the same tables, columns, keys and indexes, so that stores written once run on
 * both. Every time (integer UTC milliseconds) and every value that can pass 2^31 (scores, sequences, versions,
 * counters, rate limits) is a `bigint` read back as a JS number, as SQLite's 64-bit integers are; run numbers, ranks
 * and per-run counts stay `integer`. Changes to one schema belong in the other, each with its drizzle-kit migration
 * (drizzle/sqlite/, drizzle/postgres/).
 */

/** Raw bytes (drizzle-orm 0.45's pg-core has no bytea column of its own). */
const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => "bytea",
});

/** A 64-bit integer read as a JS number: times in milliseconds and other values that can pass 2^31. */
const int64 = (name: string) => bigint(name, { mode: "number" });

/** Live events: see schema.ts. */
export const events = pgTable(
  "events",
  {
    id: text("id").primaryKey(),
    title: text("title").notNull(),
    description: text("description").notNull(),
    startTime: int64("start_time").notNull(),
    endTime: int64("end_time").notNull(),
    rewards: text("rewards").notNull(),
    metadata: text("metadata"),
    version: int64("version").notNull(),
    createTime: int64("create_time").notNull(),
    updateTime: int64("update_time").notNull(),
    recurrenceRule: text("recurrence_rule"),
    runDurationMs: int64("run_duration_ms"),
    endLimit: int64("end_limit"),
    runsRevision: int64("runs_revision").notNull().default(0),
    /** The leaderboard configuration as JSON; null without one. */
    leaderboard: text("leaderboard"),
    countersRevision: int64("counters_revision").notNull().default(0),
    /** JSON arrays of audience names: see schema.ts. */
    audiences: text("audiences"),
    excludedAudiences: text("excluded_audiences"),
    /** The IANA time zone of a recurring event's rule; null for UTC. */
    recurrenceTimeZone: text("recurrence_time_zone"),
  },
  (t) => [index("events_start_time_id_idx").on(t.startTime, t.id), index("events_end_time_idx").on(t.endTime)],
);

/** The runs of events: see schema.ts. */
export const eventRuns = pgTable(
  "event_runs",
  {
    eventId: text("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    runNumber: integer("run_number").notNull(),
    startTime: int64("start_time").notNull(),
    endTime: int64("end_time").notNull(),
    endedEarly: boolean("ended_early").notNull().default(false),
    startAnnounced: boolean("start_announced").notNull(),
    endAnnounced: boolean("end_announced").notNull(),
    finalized: boolean("finalized").notNull().default(false),
    /** Players with an entry in the run, kept with each new entry so that one conditional UPDATE caps them. */
    participants: integer("participants").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.eventId, t.runNumber] }),
    index("event_runs_event_end_idx").on(t.eventId, t.endTime),
    // The scheduler's next boundaries: only runs whose start or end is still to be announced.
    index("event_runs_start_pending_idx").on(t.startTime).where(sql`${t.startAnnounced} = false`),
    index("event_runs_end_pending_idx").on(t.endTime).where(sql`${t.endAnnounced} = false`),
  ],
);

/**
 * The change log of events: see schema.ts. `sequence` is an identity column rather than `bigserial`: the SQL-standard
 * form, whose sequence belongs to the column, and GENERATED ALWAYS refuses a sequence number chosen by an INSERT
 * (a copy from SQLite says OVERRIDING SYSTEM VALUE). Like AUTOINCREMENT, a sequence never hands a number out twice,
 * but numbers can commit out of order: see Transaction.lockChangeLog in storage.ts.
 */
export const eventChanges = pgTable("event_changes", {
  sequence: int64("sequence").primaryKey().generatedAlwaysAsIdentity(),
  time: int64("time").notNull(),
  message: bytea("message").notNull(),
});

/** Players' entries on the board of one run: see schema.ts. */
export const scores = pgTable(
  "scores",
  {
    eventId: text("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    runNumber: integer("run_number").notNull(),
    playerId: text("player_id").notNull(),
    score: int64("score"),
    subscore: int64("subscore"),
    reachedSeq: int64("reached_seq"),
    submissions: integer("submissions").notNull().default(0),
    metadata: text("metadata"),
    joinTime: int64("join_time").notNull(),
    updateTime: int64("update_time"),
    finalRank: integer("final_rank"),
  },
  (t) => [
    primaryKey({ columns: [t.eventId, t.runNumber, t.playerId] }),
    index("scores_final_rank_idx").on(t.eventId, t.runNumber, t.finalRank),
  ],
);

/** What players won when a run ended: see schema.ts (kept when the event is deleted, hence no foreign key). */
export const rewardGrants = pgTable(
  "reward_grants",
  {
    id: text("id").primaryKey(),
    eventId: text("event_id").notNull(),
    runNumber: integer("run_number").notNull(),
    playerId: text("player_id").notNull(),
    rank: integer("rank").notNull(),
    rewards: text("rewards").notNull(),
    grantTime: int64("grant_time").notNull(),
    claimTime: int64("claim_time"),
  },
  (t) => [
    uniqueIndex("reward_grants_run_player_idx").on(t.eventId, t.runNumber, t.playerId),
    index("reward_grants_player_idx").on(t.playerId, t.grantTime, t.id),
  ],
);

/** Engagement counters of events. */
export const eventCounters = pgTable(
  "event_counters",
  {
    eventId: text("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    value: int64("value").notNull(),
  },
  (t) => [primaryKey({ columns: [t.eventId, t.name] })],
);

/** CreateEvent idempotency records: see schema.ts. */
export const createRequests = pgTable("create_requests", {
  requestId: text("request_id").primaryKey(),
  fingerprint: text("fingerprint").notNull(),
  eventId: text("event_id").notNull(),
  createTime: int64("create_time").notNull(),
});

/** API keys: see schema.ts. `role` is text, as on SQLite, so that adding a role needs no type change. */
export const apiKeys = pgTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    role: text("role", { enum: ["viewer", "game_server", "operator", "admin"] }).notNull(),
    secretHash: text("secret_hash").notNull(),
    createTime: int64("create_time").notNull(),
    expireTime: int64("expire_time"),
    revokeTime: int64("revoke_time"),
    rotateTime: int64("rotate_time"),
    previousSecretHash: text("previous_secret_hash"),
    previousSecretExpireTime: int64("previous_secret_expire_time"),
    lastUsedTime: int64("last_used_time"),
    rateLimitPerSecond: int64("rate_limit_per_second"),
    rateLimitBurst: int64("rate_limit_burst"),
  },
  (t) => [index("api_keys_create_time_idx").on(t.createTime)],
);

/**
 * The audit log: see schema.ts. Triggers (drizzle/postgres, migration audit_append_only) refuse UPDATE, DELETE and
 * TRUNCATE. `id` is an identity column, as `event_changes.sequence` is.
 */
export const auditEntries = pgTable(
  "audit_entries",
  {
    id: int64("id").primaryKey().generatedAlwaysAsIdentity(),
    time: int64("time").notNull(),
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

/** Server-wide values made once and kept: see schema.ts. */
export const settings = pgTable("settings", {
  name: text("name").primaryKey(),
  value: text("value").notNull(),
});

/**
 * Changes other than events', for every instance to read: see schema.ts. `txid` is the writing transaction's id:
 * identity values are taken before commit, so a later id can commit first; a reader that takes only rows of
 * transactions older than every one still running (`pg_snapshot_xmin`) and orders by (txid, id) skips none.
 */
export const clusterChanges = pgTable(
  "cluster_changes",
  {
    id: int64("id").primaryKey().generatedAlwaysAsIdentity(),
    txid: int64("txid").notNull().default(sql`(pg_current_xact_id()::text)::bigint`),
    time: int64("time").notNull(),
    kind: text("kind").notNull(),
    subject: text("subject").notNull(),
    body: text("body").notNull(),
  },
  (t) => [index("cluster_changes_order_idx").on(t.txid, t.id), index("cluster_changes_time_idx").on(t.time)],
);

/**
 * PostgreSQL only: rate-limiter-flexible's table (its layout), so every instance counts a key's calls and an
 * address's failed guesses in one place. UNLOGGED (migration rate_limits_unlogged): no WAL, emptied by a crash,
 * which only forgives some calls.
 */
export const rateLimits = pgTable("rate_limits", {
  key: varchar("key", { length: 255 }).primaryKey(),
  points: integer("points").notNull().default(0),
  expire: int64("expire"),
});

/**
 * PostgreSQL only: the tie-break numbers of scores (`scores.reached_seq`), given to every instance without a lock
 * (SQLite's one server counts them in memory).
 */
export const scoresReachedSeq = pgSequence("scores_reached_seq", { startWith: 1 });

/** Players: see schema.ts. */
export const players = pgTable("players", {
  id: text("id").primaryKey(),
  properties: text("properties").notNull(),
  createTime: int64("create_time").notNull(),
  updateTime: int64("update_time").notNull(),
  version: int64("version").notNull(),
});

/** Audiences: see schema.ts. */
export const audiences = pgTable("audiences", {
  name: text("name").primaryKey(),
  description: text("description").notNull(),
  expression: text("expression").notNull(),
  includeIds: text("include_ids").notNull(),
  excludeIds: text("exclude_ids").notNull(),
  createTime: int64("create_time").notNull(),
  updateTime: int64("update_time").notNull(),
  version: int64("version").notNull(),
});

/** Which events name which audiences: see schema.ts. */
export const eventAudiences = pgTable(
  "event_audiences",
  {
    eventId: text("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    audienceName: text("audience_name")
      .notNull()
      .references(() => audiences.name),
    excluded: boolean("excluded").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.eventId, t.audienceName] }),
    index("event_audiences_audience_idx").on(t.audienceName),
  ],
);

/** The keys that sign player tokens: see schema.ts. */
export const playerTokenKeys = pgTable("player_token_keys", {
  id: text("id").primaryKey(),
  secret: text("secret").notNull(),
  createTime: int64("create_time").notNull(),
  retireTime: int64("retire_time"),
});

/** The tables only the PostgreSQL schema has, and why: see above. */
export const postgresOnlyTables = ["rate_limits"];
