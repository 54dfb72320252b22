import type { JsonObject } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { Event } from "../../gen/liveops/v1/event_pb.js";
import type { FieldViolation } from "../errors.js";
import { checkLeaderboard, leaderboardFromMessage } from "../leaderboards/leaderboard-config.js";
import { checkRewards } from "../rewards/reward-rules.js";
import { durationToMs, laterTimestampMs, parseBasicUtc, TIMESTAMP_RANGE_TEXT, timestampToMs } from "../timestamps.js";
import { type EventFields, recurrenceWith } from "./event-record.js";
import { MAX_RUN_DURATION_MS, parseRule } from "./recurrence.js";
import type { ScheduleCheck } from "./recurrence-expander.js";
import { canonicalTimeZone } from "./recurrence-zone.js";

/** The fields of an event that clients write, by their proto names (as in an update mask). */
export const writableEventFields = [
  "title",
  "description",
  "start_time",
  "end_time",
  "rewards",
  "metadata",
  "recurrence",
  "leaderboard",
  "audiences",
  "excluded_audiences",
] as const;
/** A proto name of a client-written field. */
export type WritableEventField = (typeof writableEventFields)[number];

export const TITLE_MAX = 100;
export const DESCRIPTION_MAX = 1000;
export const METADATA_MAX_BYTES = 16 * 1024;
/** At most this many names in each of an event's audience lists. */
export const EVENT_AUDIENCES_MAX = 20;
/** An audience's name (its id): a lowercase letter, then up to 63 lowercase letters, digits, '_' or '-'. */
export const AUDIENCE_NAME = /^[a-z][a-z0-9_-]{0,63}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Violations of an event id given in a request (empty when it is well formed). */
export function checkEventId(id: string, field: string): FieldViolation[] {
  if (id === "") return [{ field, description: "is required", reason: "REQUIRED" }];
  if (!UUID.test(id)) return [{ field, description: "must be a UUID", reason: "INVALID_FORMAT" }];
  return [];
}

function characters(s: string): number {
  return [...s].length;
}

/** A timestamp of a request in milliseconds, or a violation of `field`. */
export function timestampMs(
  ts: Timestamp | undefined,
  field: string,
  violations: FieldViolation[],
): number | undefined {
  if (ts === undefined) {
    violations.push({ field, description: "is required", reason: "REQUIRED" });
    return undefined;
  }
  // Stored to the millisecond.
  return timestampToMs(ts, field, violations);
}

/**
 * Reads the fields named in `paths` from an Event message. A field that cannot be read (a missing or
 * out-of-range time, oversized metadata) gives a violation instead of a value.
 */
export function readEventFields(
  event: Event,
  paths: ReadonlySet<WritableEventField>,
  prefix: string,
): { values: Partial<EventFields>; violations: FieldViolation[] } {
  const values: Partial<EventFields> = {};
  const violations: FieldViolation[] = [];
  if (paths.has("title")) values.title = event.title;
  if (paths.has("description")) values.description = event.description;
  if (paths.has("start_time")) values.startTime = timestampMs(event.startTime, `${prefix}.start_time`, violations);
  if (paths.has("end_time")) {
    // Optional for a recurring event: whether it is required is checked with the whole event.
    const endTime = event.endTime && timestampMs(event.endTime, `${prefix}.end_time`, violations);
    values.endTime = event.endTime && endTime === undefined ? Number.NaN : endTime;
  }
  if (paths.has("recurrence")) {
    const { recurrence } = event;
    if (recurrence) {
      const parsed = parseRule(recurrence.rule);
      const durationField = `${prefix}.recurrence.run_duration`;
      const duration = recurrence.runDuration;
      // A duration outside Duration's range gets its own violation; it stands in as one the checks refuse too.
      const ms = duration ? (durationToMs(duration, durationField, violations) ?? MAX_RUN_DURATION_MS + 1) : 0;
      const firstEnd = values.startTime === undefined ? undefined : laterTimestampMs(values.startTime, ms);
      if (values.startTime !== undefined && ms > 0 && ms <= MAX_RUN_DURATION_MS && firstEnd === undefined) {
        violations.push({
          field: durationField,
          description: `makes the first run end after 9999-12-31T23:59:59.999Z; times must be ${TIMESTAMP_RANGE_TEXT}`,
          reason: "OUT_OF_RANGE",
        });
      }
      const until = /(?:^|;)UNTIL=([^;]*)/.exec("rule" in parsed ? parsed.rule : "")?.[1];
      if (until !== undefined && parseBasicUtc(until) === undefined) {
        violations.push({
          field: `${prefix}.recurrence.rule`,
          description: `UNTIL=${until} is not a date (or date-time) that exists ${TIMESTAMP_RANGE_TEXT}`,
          reason: "INVALID_DATE",
        });
      }
      const timeZone = readTimeZone(recurrence.timeZone, `${prefix}.recurrence.time_zone`, violations);
      values.recurrence = recurrenceWith("rule" in parsed ? parsed.rule : recurrence.rule, ms, timeZone);
    } else values.recurrence = undefined;
  }
  if (paths.has("leaderboard")) {
    values.leaderboard = event.leaderboard && leaderboardFromMessage(event.leaderboard);
  }
  if (paths.has("rewards")) values.rewards = event.rewards;
  if (paths.has("audiences")) values.audiences = [...event.audiences];
  if (paths.has("excluded_audiences")) values.excludedAudiences = [...event.excludedAudiences];
  if (paths.has("metadata")) {
    const metadata: JsonObject | undefined = event.metadata;
    if (metadata !== undefined && Buffer.byteLength(JSON.stringify(metadata)) > METADATA_MAX_BYTES) {
      violations.push({
        field: `${prefix}.metadata`,
        description: `must be at most ${METADATA_MAX_BYTES} bytes as JSON`,
        reason: "TOO_LARGE",
      });
    }
    values.metadata = metadata;
  }
  return { values, violations };
}

/**
 * A recurrence's time zone by its canonical IANA name ("" for none), or a violation of `field` (and "", so that the
 * rest of the schedule is still checked).
 */
function readTimeZone(name: string, field: string, violations: FieldViolation[]): string {
  if (name === "") return "";
  const zone = canonicalTimeZone(name);
  if (zone === undefined) {
    violations.push({
      field,
      description: `"${name}" is not an IANA time zone (such as "Europe/Berlin" or "UTC")`,
      reason: "UNKNOWN_TIME_ZONE",
    });
    return "";
  }
  return zone;
}

/**
 * Violations of the rules on an event's fields, each naming its field under `prefix`; the schedule's walk of its
 * rule is {@link scheduleCheck}'s.
 */
export function validateEventFields(fields: Partial<EventFields>, prefix: string): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const violation = (field: string, description: string, reason: string) =>
    violations.push({ field: `${prefix}.${field}`, description, reason });

  const { title, description, startTime, endTime, rewards } = fields;
  if (title !== undefined) {
    if (title.trim() === "") violation("title", "is required", "REQUIRED");
    else if (characters(title) > TITLE_MAX) violation("title", `must be at most ${TITLE_MAX} characters`, "TOO_LONG");
  }
  if (description !== undefined && characters(description) > DESCRIPTION_MAX) {
    violation("description", `must be at most ${DESCRIPTION_MAX} characters`, "TOO_LONG");
  }
  if (startTime !== undefined && endTime !== undefined && endTime <= startTime) {
    violation("end_time", "must be after start_time", "END_NOT_AFTER_START");
  }
  if (endTime === undefined && "endTime" in fields && fields.recurrence === undefined) {
    violation("end_time", "is required (unless the event has a recurrence)", "REQUIRED");
  }
  if (rewards !== undefined) violations.push(...checkRewards(rewards, `${prefix}.rewards`));
  if (fields.leaderboard) violations.push(...checkLeaderboard(fields.leaderboard, `${prefix}.leaderboard`));
  if (fields.audiences !== undefined || fields.excludedAudiences !== undefined) {
    violations.push(...checkAudiences(fields.audiences ?? [], fields.excludedAudiences ?? [], prefix));
  }
  return violations;
}

/**
 * Violations of an event's audience lists: each at most {@link EVENT_AUDIENCES_MAX} distinct well-formed names, and
 * no name in both (it would target and exclude the same players). Whether the audiences exist is the store's check,
 * made in the write.
 */
function checkAudiences(audiences: readonly string[], excluded: readonly string[], prefix: string): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const checkList = (names: readonly string[], path: string) => {
    if (names.length > EVENT_AUDIENCES_MAX) {
      violations.push({
        field: path,
        description: `must hold at most ${EVENT_AUDIENCES_MAX} names`,
        reason: "TOO_MANY",
      });
    }
    const seen = new Set<string>();
    names.slice(0, EVENT_AUDIENCES_MAX).forEach((name, i) => {
      const field = `${path}[${i}]`;
      if (!AUDIENCE_NAME.test(name)) {
        violations.push({
          field,
          description:
            "must be an audience name: 1 to 64 lowercase letters, digits, '_' or '-', starting with a letter",
          reason: "INVALID_FORMAT",
        });
      } else if (seen.has(name)) {
        violations.push({ field, description: `duplicates the audience "${name}"`, reason: "DUPLICATE" });
      }
      seen.add(name);
    });
  };
  checkList(audiences, `${prefix}.audiences`);
  checkList(excluded, `${prefix}.excluded_audiences`);
  const targeted = new Set(audiences);
  excluded.slice(0, EVENT_AUDIENCES_MAX).forEach((name, i) => {
    if (AUDIENCE_NAME.test(name) && targeted.has(name) && excluded.indexOf(name) === i) {
      violations.push({
        field: `${prefix}.excluded_audiences[${i}]`,
        description: `"${name}" is also in audiences: an audience is either targeted or excluded`,
        reason: "CONFLICT",
      });
    }
  });
  return violations;
}

/**
 * The check of a recurring event's schedule (recurrence.ts checkRecurrence, done by walking its rule off the event
 * loop), if it needs one: not when the schedule is the same as `before`'s (an update that leaves it alone need not
 * walk the rule again), nor when it is not recurring or its times are missing.
 */
export function scheduleCheck(
  fields: Partial<EventFields>,
  prefix: string,
  before: EventFields | undefined,
): ScheduleCheck | undefined {
  const { startTime, endTime, recurrence } = fields;
  const scheduleKept =
    before !== undefined &&
    before.startTime === startTime &&
    before.endTime === endTime &&
    JSON.stringify(before.recurrence) === JSON.stringify(recurrence);
  if (!recurrence || startTime === undefined || Number.isNaN(endTime) || scheduleKept) return undefined;
  const valid = endTime === undefined || endTime > startTime;
  return { recurrence, startTime, endLimit: valid ? endTime : undefined, prefix };
}
