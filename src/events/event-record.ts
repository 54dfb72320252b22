import { createHash } from "node:crypto";
import { create, type JsonObject, toBinary } from "@bufbuild/protobuf";
import {
  type Event,
  type EventRun,
  EventRunSchema,
  EventSchema,
  EventStatus,
  RecurrenceSchema,
  type Reward,
} from "../../gen/liveops/v1/event_pb.js";
import type { eventRuns, events } from "../db/schema.js";
import { invalidArgument } from "../errors.js";
import {
  type LeaderboardConfig,
  leaderboardFromJson,
  leaderboardToJson,
  leaderboardToMessage,
} from "../leaderboards/leaderboard-config.js";
import { rewardsFromStored, rewardsToStored, type StoredReward } from "../rewards/reward-codec.js";
import { durationFromStoredMs, laterTimestampMs, TIMESTAMP_RANGE_TEXT, timestampFromStoredMs } from "../timestamps.js";
import type { Recurrence } from "./recurrence.js";
import { UTC } from "./recurrence-zone.js";

/** An event as stored. */
export type EventRow = typeof events.$inferSelect;
/** A run as stored. */
export type RunRow = typeof eventRuns.$inferSelect;

/** The stored end time of an event whose rule has no end. */
export const OPEN_END = Number.MAX_SAFE_INTEGER;

/** The fields of an event that clients write. */
export interface EventFields {
  title: string;
  description: string;
  startTime: number;
  /** A one-off event's end; a recurring event's optional end limit. */
  endTime: number | undefined;
  rewards: Reward[];
  metadata: JsonObject | undefined;
  recurrence: Recurrence | undefined;
  leaderboard: LeaderboardConfig | undefined;
  /** The names of the audiences the event is for; empty: every player. */
  audiences: string[];
  /** The names of the audiences whose players never see the event. */
  excludedAudiences: string[];
}

/**
 * Refuses fields whose first run would end after the last storable time. Requests are checked as they are read
 * (event-validation.ts); this catches the update that changes only `run_duration` of an event starting near the end
 * of the range, whose start comes from the stored event. It runs inside the write, which it aborts.
 */
function assertFirstRunStorable(fields: EventFields): void {
  if (!fields.recurrence || laterTimestampMs(fields.startTime, fields.recurrence.runDurationMs) !== undefined) return;
  throw invalidArgument([
    {
      field: "event.recurrence.run_duration",
      description: `makes the first run end after 9999-12-31T23:59:59.999Z; times must be ${TIMESTAMP_RANGE_TEXT}`,
      reason: "OUT_OF_RANGE",
    },
  ]);
}

/** The columns that hold an event's fields; `endTime` is the end of its last run (see the schema). */
export function fieldsToColumns(fields: EventFields, endTime: number) {
  assertFirstRunStorable(fields);
  return {
    title: fields.title,
    description: fields.description,
    startTime: fields.startTime,
    endTime,
    rewards: JSON.stringify(rewardsToStored(fields.rewards)),
    metadata: fields.metadata === undefined ? null : JSON.stringify(fields.metadata),
    recurrenceRule: fields.recurrence?.rule ?? null,
    runDurationMs: fields.recurrence?.runDurationMs ?? null,
    recurrenceTimeZone: fields.recurrence?.timeZone ?? null,
    endLimit: fields.recurrence ? (fields.endTime ?? null) : null,
    leaderboard: fields.leaderboard ? leaderboardToJson(fields.leaderboard) : null,
    audiences: namesToJson(fields.audiences),
    excludedAudiences: namesToJson(fields.excludedAudiences),
  };
}

function namesToJson(names: readonly string[]): string | null {
  return names.length === 0 ? null : JSON.stringify(names);
}

function namesFromJson(json: string | null): string[] {
  return json === null ? [] : (JSON.parse(json) as string[]);
}

/** The schedule of a stored recurring event (its zone null or empty for UTC). */
export function recurrenceOf(row: EventRow): Recurrence | undefined {
  if (row.recurrenceRule === null || row.runDurationMs === null) return undefined;
  return recurrenceWith(row.recurrenceRule, row.runDurationMs, row.recurrenceTimeZone ?? "");
}

/**
 * A schedule in its one form (the same fields in the same order, a zone only when it is not UTC), so that schedules
 * compare as JSON. `timeZone` must be canonical (event-validation.ts reads it so).
 */
export function recurrenceWith(rule: string, runDurationMs: number, timeZone: string): Recurrence {
  return timeZone === "" || timeZone === UTC ? { rule, runDurationMs } : { rule, runDurationMs, timeZone };
}

/** The client-written fields of a stored event. */
export function rowToFields(row: EventRow): EventFields {
  const rewards = rewardsFromStored(JSON.parse(row.rewards) as StoredReward[]);
  return {
    title: row.title,
    description: row.description,
    startTime: row.startTime,
    endTime: row.recurrenceRule === null ? row.endTime : (row.endLimit ?? undefined),
    rewards,
    metadata: row.metadata === null ? undefined : (JSON.parse(row.metadata) as JsonObject),
    recurrence: recurrenceOf(row),
    leaderboard: leaderboardOf(row),
    audiences: namesFromJson(row.audiences),
    excludedAudiences: namesFromJson(row.excludedAudiences),
  };
}

/** The leaderboard of a stored event. */
export function leaderboardOf(row: EventRow): LeaderboardConfig | undefined {
  return row.leaderboard === null ? undefined : leaderboardFromJson(row.leaderboard);
}

/** The client-written fields as plain JSON, for the audit log. */
export function fieldsToAuditJson(fields: EventFields): JsonObject {
  return {
    title: fields.title,
    description: fields.description,
    start_time: new Date(fields.startTime).toISOString(),
    end_time: fields.endTime === undefined ? null : new Date(fields.endTime).toISOString(),
    rewards: rewardsToStored(fields.rewards),
    metadata: fields.metadata ?? null,
    recurrence: fields.recurrence
      ? {
          rule: fields.recurrence.rule,
          run_duration_ms: fields.recurrence.runDurationMs,
          time_zone: fields.recurrence.timeZone ?? "",
        }
      : null,
    leaderboard: fields.leaderboard ? (JSON.parse(leaderboardToJson(fields.leaderboard)) as JsonObject) : null,
    audiences: fields.audiences,
    excluded_audiences: fields.excludedAudiences,
  };
}

/** Where an event is at a time, from its first runs that end after that time. */
export interface EventState {
  status: EventStatus;
  currentRun: RunRow | undefined;
  nextRunStart: number | undefined;
  /** The state stays the same until this time, unless the event or its runs change. */
  validUntil: number;
  /** The event's counters, when it has any. */
  counters?: Record<string, bigint>;
}

/** The state of `row` at `at`, given its (at most two) first runs that end after `at`, in order. */
export function eventStateAt(row: EventRow, runs: readonly RunRow[], at: number): EventState {
  const [first, second] = runs;
  if (first && first.startTime <= at) {
    return {
      status: EventStatus.ACTIVE,
      currentRun: first,
      nextRunStart: second?.startTime,
      validUntil: first.endTime,
    };
  }
  const status =
    at < row.startTime ? EventStatus.UPCOMING : at >= row.endTime ? EventStatus.ENDED : EventStatus.BETWEEN_RUNS;
  // The next moment any of the three comparisons above can change: the event's start, its end, its first run's start
  // (an event whose first run starts after the event does is BETWEEN_RUNS from its start).
  const later = (time: number | undefined) => (time !== undefined && time > at ? time : Number.POSITIVE_INFINITY);
  const validUntil = Math.min(later(row.startTime), later(row.endTime), later(first?.startTime));
  return { status, currentRun: undefined, nextRunStart: first?.startTime, validUntil };
}

function recurrenceToMessage(recurrence: Recurrence) {
  return create(RecurrenceSchema, {
    rule: recurrence.rule,
    runDuration: durationFromStoredMs(recurrence.runDurationMs),
    timeZone: recurrence.timeZone ?? "",
  });
}

/** The API message of a stored run. */
export function runToMessage(run: RunRow): EventRun {
  return create(EventRunSchema, {
    eventId: run.eventId,
    runNumber: BigInt(run.runNumber),
    startTime: timestampFromStoredMs(run.startTime),
    endTime: timestampFromStoredMs(run.endTime),
    endedEarly: run.endedEarly,
  });
}

/** The opaque etag of one version of an event. */
export function eventEtag(id: string, version: number): string {
  return createHash("sha256").update(`${id}:${version}`).digest("base64url").slice(0, 16);
}

/** The API message of a stored event in `state`. */
export function rowToEvent(row: EventRow, state: EventState): Event {
  const fields = rowToFields(row);
  return create(EventSchema, {
    id: row.id,
    title: fields.title,
    description: fields.description,
    startTime: timestampFromStoredMs(fields.startTime),
    endTime: row.endTime === OPEN_END ? undefined : timestampFromStoredMs(row.endTime),
    rewards: fields.rewards,
    metadata: fields.metadata,
    status: state.status,
    createTime: timestampFromStoredMs(row.createTime),
    updateTime: timestampFromStoredMs(row.updateTime),
    etag: eventEtag(row.id, row.version),
    recurrence: fields.recurrence && recurrenceToMessage(fields.recurrence),
    currentRun: state.currentRun && runToMessage(state.currentRun),
    nextRunStartTime: state.nextRunStart === undefined ? undefined : timestampFromStoredMs(state.nextRunStart),
    leaderboard: fields.leaderboard && leaderboardToMessage(fields.leaderboard),
    counters: state.counters ?? {},
    audiences: fields.audiences,
    excludedAudiences: fields.excludedAudiences,
  });
}

/** A digest of the client-written fields, to tell a retry of a CreateEvent from a different request. */
export function fieldsFingerprint(fields: EventFields): string {
  const message = create(EventSchema, {
    title: fields.title,
    description: fields.description,
    startTime: timestampFromStoredMs(fields.startTime),
    endTime: fields.endTime === undefined ? undefined : timestampFromStoredMs(fields.endTime),
    rewards: fields.rewards,
    recurrence: fields.recurrence && recurrenceToMessage(fields.recurrence),
    leaderboard: fields.leaderboard && leaderboardToMessage(fields.leaderboard),
    audiences: fields.audiences,
    excludedAudiences: fields.excludedAudiences,
  });
  return createHash("sha256")
    .update(toBinary(EventSchema, message))
    .update(JSON.stringify(fields.metadata ?? null))
    .digest("hex");
}
