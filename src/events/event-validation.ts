import type { JsonObject } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { Event, Reward } from "../../gen/liveops/v1/event_pb.js";
import type { FieldViolation } from "../errors.js";
import { checkLeaderboard, leaderboardFromMessage } from "../leaderboards/leaderboard-config.js";
import type { EventFields } from "./event-record.js";
import { checkRecurrence, MAX_RUN_DURATION_MS, parseRule } from "./recurrence.js";

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
] as const;
/** A proto name of a client-written field. */
export type WritableEventField = (typeof writableEventFields)[number];

export const TITLE_MAX = 100;
export const DESCRIPTION_MAX = 1000;
export const REWARDS_MAX = 100;
export const REWARD_NAME_MAX = 100;
export const METADATA_MAX_BYTES = 16 * 1024;
const REWARD_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
// The range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
const TIMESTAMP_MIN_SECONDS = -62135596800n;
const TIMESTAMP_MAX_SECONDS = 253402300799n;
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
  if (
    ts.seconds < TIMESTAMP_MIN_SECONDS ||
    ts.seconds > TIMESTAMP_MAX_SECONDS ||
    ts.nanos < 0 ||
    ts.nanos > 999_999_999
  ) {
    violations.push({ field, description: "is not a valid timestamp", reason: "OUT_OF_RANGE" });
    return undefined;
  }
  // Stored to the millisecond.
  return Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000);
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
      const duration = recurrence.runDuration;
      const ms = duration ? Number(duration.seconds) * 1000 + Math.trunc(duration.nanos / 1_000_000) : 0;
      values.recurrence = {
        rule: "rule" in parsed ? parsed.rule : recurrence.rule,
        // Out-of-range durations become one the checks refuse, with their own message.
        runDurationMs: Number.isSafeInteger(ms) ? ms : MAX_RUN_DURATION_MS + 1,
      };
    } else values.recurrence = undefined;
  }
  if (paths.has("leaderboard")) {
    values.leaderboard = event.leaderboard && leaderboardFromMessage(event.leaderboard);
  }
  if (paths.has("rewards")) values.rewards = event.rewards;
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

/** Violations of a list of rewards at `path`: at most 100, distinct well-formed ids, names, positive quantities. */
export function checkRewards(rewards: readonly Reward[], path: string): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const violation = (field: string, description: string, reason: string) =>
    violations.push({ field: `${path}${field}`, description, reason });
  if (rewards.length > REWARDS_MAX) violation("", `must hold at most ${REWARDS_MAX} rewards`, "TOO_MANY");
  const seen = new Set<string>();
  rewards.slice(0, REWARDS_MAX).forEach((reward, i) => {
    const at = `[${i}]`;
    if (!REWARD_ID.test(reward.id)) {
      violation(`${at}.id`, "must be 1 to 64 letters, digits, '_', '-', '.' or ':'", "INVALID_FORMAT");
    } else if (seen.has(reward.id)) {
      violation(`${at}.id`, `duplicates the reward id "${reward.id}"`, "DUPLICATE");
    }
    seen.add(reward.id);
    if (reward.name.trim() === "") violation(`${at}.name`, "is required", "REQUIRED");
    else if (characters(reward.name) > REWARD_NAME_MAX) {
      violation(`${at}.name`, `must be at most ${REWARD_NAME_MAX} characters`, "TOO_LONG");
    }
    if (reward.quantity <= 0n) violation(`${at}.quantity`, "must be greater than 0", "NOT_POSITIVE");
  });
  return violations;
}

/**
 * Violations of the rules on an event's fields, each naming its field under `prefix`. The schedule is checked
 * unless it is the same as `before`'s (an update that leaves it alone need not walk the rule again).
 */
export function validateEventFields(
  fields: Partial<EventFields>,
  prefix: string,
  before?: EventFields,
): FieldViolation[] {
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
  const scheduleKept =
    before !== undefined &&
    before.startTime === startTime &&
    before.endTime === endTime &&
    JSON.stringify(before.recurrence) === JSON.stringify(fields.recurrence);
  if (fields.recurrence && startTime !== undefined && !Number.isNaN(endTime) && !scheduleKept) {
    const valid = endTime === undefined || endTime > startTime;
    violations.push(...checkRecurrence(fields.recurrence, startTime, valid ? endTime : undefined, prefix));
  }
  if (rewards !== undefined) violations.push(...checkRewards(rewards, `${prefix}.rewards`));
  if (fields.leaderboard) violations.push(...checkLeaderboard(fields.leaderboard, `${prefix}.leaderboard`));
  return violations;
}
