import { sql } from "drizzle-orm";
import { blob, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * Live events. Times are integer UTC milliseconds. `rewards` and `metadata` are the protobuf JSON of the
 * event's rewards and metadata: they belong to the event and are always read with it.
 *
 * `start_time` is the start of the first run and `end_time` the end of the last one (Number.MAX_SAFE_INTEGER while
 * an open-ended rule goes on), so "upcoming" and "ended" are conditions on the event alone. A recurring event has a
 * `recurrence_rule` and `run_duration_ms`, and `end_limit` when its operator gave an end time. `runs_revision`
 * changes whenever its runs do.
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
    recurrenceRule: text("recurrence_rule"),
    runDurationMs: integer("run_duration_ms"),
    endLimit: integer("end_limit"),
    runsRevision: integer("runs_revision").notNull().default(0),
    /** The leaderboard configuration as JSON (see src/leaderboards/leaderboard-config.ts); null without one. */
    leaderboard: text("leaderboard"),
    countersRevision: integer("counters_revision").notNull().default(0),
    /** JSON arrays of audience names (see `eventAudiences`, which holds the same for integrity); null when none. */
    audiences: text("audiences"),
    excludedAudiences: text("excluded_audiences"),
    /** The canonical IANA time zone a recurring event's rule runs in; null for UTC. */
    recurrenceTimeZone: text("recurrence_time_zone"),
  },
  (t) => [
    // Serves listing in (start time, id) order and its keyset pagination.
    index("events_start_time_id_idx").on(t.startTime, t.id),
    // Serves "active now" and "upcoming": only events that have not ended are scanned.
    index("events_end_time_idx").on(t.endTime),
  ],
);

/**
 * The runs of events: every run that has started, and the planned ones (all of a bounded series; those of the
 * planning horizon for an open-ended rule, extended by the scheduler). `start_announced` and `end_announced` say
 * whether the scheduler has recorded the run's STARTED and ENDED changes (or they happened with the write that
 * planned the run), so that each is announced exactly once across restarts.
 */
export const eventRuns = sqliteTable(
  "event_runs",
  {
    eventId: text("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    runNumber: integer("run_number").notNull(),
    startTime: integer("start_time").notNull(),
    endTime: integer("end_time").notNull(),
    endedEarly: integer("ended_early", { mode: "boolean" }).notNull().default(false),
    startAnnounced: integer("start_announced", { mode: "boolean" }).notNull(),
    endAnnounced: integer("end_announced", { mode: "boolean" }).notNull(),
    /** Set in the transaction that ranked the run's board for good and made its reward grants. */
    finalized: integer("finalized", { mode: "boolean" }).notNull().default(false),
    /**
     * How many players have an entry (joined or scored) in the run. Kept in the transaction that adds each entry, so
     * that `max_participants` is enforced by one conditional UPDATE instead of a count.
     */
    participants: integer("participants").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.eventId, t.runNumber] }),
    // The live and next runs of an event: the first runs that end after a time.
    index("event_runs_event_end_idx").on(t.eventId, t.endTime),
    // The scheduler's next boundaries: only runs whose start or end is still to be announced.
    index("event_runs_start_pending_idx").on(t.startTime).where(sql`${t.startAnnounced} = 0`),
    index("event_runs_end_pending_idx").on(t.endTime).where(sql`${t.endAnnounced} = 0`),
  ],
);

/**
 * The change log of events, for WatchEvents to resume from: one row per change, `message` being the encoded
 * WatchEventsResponse. AUTOINCREMENT so that sequence numbers are never reused after old rows are pruned.
 */
export const eventChanges = sqliteTable("event_changes", {
  sequence: integer("sequence").primaryKey({ autoIncrement: true }),
  time: integer("time").notNull(),
  message: blob("message", { mode: "buffer" }).notNull(),
});

/**
 * Players' entries on the board of one run. A row is a participant; `score` is null until the first submission.
 * `reached_seq` orders equal scores by who reached them first. `final_rank` is set when the run is finalized.
 */
export const scores = sqliteTable(
  "scores",
  {
    eventId: text("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    runNumber: integer("run_number").notNull(),
    playerId: text("player_id").notNull(),
    score: integer("score"),
    subscore: integer("subscore"),
    reachedSeq: integer("reached_seq"),
    submissions: integer("submissions").notNull().default(0),
    metadata: text("metadata"),
    joinTime: integer("join_time").notNull(),
    updateTime: integer("update_time"),
    finalRank: integer("final_rank"),
  },
  (t) => [
    primaryKey({ columns: [t.eventId, t.runNumber, t.playerId] }),
    index("scores_final_rank_idx").on(t.eventId, t.runNumber, t.finalRank),
  ],
);

/**
 * What players won when a run ended, made once per (event, run, player) in the finalizing transaction. Kept when the
 * event is deleted: a grant belongs to its player.
 */
export const rewardGrants = sqliteTable(
  "reward_grants",
  {
    id: text("id").primaryKey(),
    eventId: text("event_id").notNull(),
    runNumber: integer("run_number").notNull(),
    playerId: text("player_id").notNull(),
    rank: integer("rank").notNull(),
    rewards: text("rewards").notNull(),
    grantTime: integer("grant_time").notNull(),
    claimTime: integer("claim_time"),
  },
  (t) => [
    uniqueIndex("reward_grants_run_player_idx").on(t.eventId, t.runNumber, t.playerId),
    index("reward_grants_player_idx").on(t.playerId, t.grantTime, t.id),
  ],
);

/** Engagement counters of events. */
export const eventCounters = sqliteTable(
  "event_counters",
  {
    eventId: text("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    value: integer("value").notNull(),
  },
  (t) => [primaryKey({ columns: [t.eventId, t.name] })],
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

/**
 * Committed changes other than events' (keys, scores and joins, reward grants and claims, counters), written in the
 * transaction of each change. Every liveops instance reads them from its own cursor to keep what it holds in memory
 * current (src/cluster/). `txid` orders them on PostgreSQL (see cluster-changes.ts); on SQLite, where one server
 * writes and commits in turn, `id` alone does and `txid` stays 0. Pruned by age.
 */
export const clusterChanges = sqliteTable(
  "cluster_changes",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    txid: integer("txid").notNull().default(0),
    time: integer("time").notNull(),
    kind: text("kind").notNull(),
    subject: text("subject").notNull(),
    body: text("body").notNull(),
  },
  (t) => [index("cluster_changes_order_idx").on(t.txid, t.id), index("cluster_changes_time_idx").on(t.time)],
);

/**
 * Players: their typed properties as JSON, {"name": {"s": text} | {"n": number} | {"b": bool} | {"t": ms}} (see
 * src/players/player-properties.ts), which audiences are evaluated against.
 */
export const players = sqliteTable("players", {
  id: text("id").primaryKey(),
  properties: text("properties").notNull(),
  createTime: integer("create_time").notNull(),
  updateTime: integer("update_time").notNull(),
  version: integer("version").notNull(),
});

/** Audiences: a CEL expression over a player, and include and exclude lists of player ids (JSON arrays). */
export const audiences = sqliteTable("audiences", {
  name: text("name").primaryKey(),
  description: text("description").notNull(),
  expression: text("expression").notNull(),
  includeIds: text("include_ids").notNull(),
  excludeIds: text("exclude_ids").notNull(),
  createTime: integer("create_time").notNull(),
  updateTime: integer("update_time").notNull(),
  version: integer("version").notNull(),
});

/**
 * Which events name which audiences (`excluded`: in excluded_audiences), so that an audience in use cannot be deleted:
 * the foreign key refuses it whatever the path.
 */
export const eventAudiences = sqliteTable(
  "event_audiences",
  {
    eventId: text("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    audienceName: text("audience_name")
      .notNull()
      .references(() => audiences.name),
    excluded: integer("excluded", { mode: "boolean" }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.eventId, t.audienceName] }),
    index("event_audiences_audience_idx").on(t.audienceName),
  ],
);

/**
 * The keys that sign player tokens (HS256 secrets, base64url), shared by every instance. The newest without a
 * retire time signs; a key verifies until its retire time.
 */
export const playerTokenKeys = sqliteTable("player_token_keys", {
  id: text("id").primaryKey(),
  secret: text("secret").notNull(),
  createTime: integer("create_time").notNull(),
  retireTime: integer("retire_time"),
});
