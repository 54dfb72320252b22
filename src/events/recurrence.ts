import rrulePackage from "rrule";
import type { FieldViolation } from "../errors.js";
import { parseBasicUtc } from "../timestamps.js";
import { instantOf, UTC, wallClockIsUnique, wallClockOf, wallClockText } from "./recurrence-zone.js";

const { RRule } = rrulePackage;
type Rule = InstanceType<typeof RRule>;

/**
 * A recurring event's schedule as stored: its rule (normalized), how long each run lasts, and the canonical IANA
 * time zone it runs in (absent for UTC, so that a UTC schedule has one form).
 */
export interface Recurrence {
  rule: string;
  runDurationMs: number;
  timeZone?: string;
}

/** The zone a schedule runs in: its own, or UTC. */
export function zoneOf(recurrence: Pick<Recurrence, "timeZone">): string {
  return recurrence.timeZone ?? UTC;
}

/**
 * Whether a plan may walk `recurrence`'s rule again from its occurrence at `start` (see {@link ruleContinues}):
 * also not from an instant that two wall-clock times give (the hour after a gap).
 */
export function walkContinuesAt(recurrence: Recurrence, start: number): boolean {
  return ruleContinues(recurrence.rule) && wallClockIsUnique(zoneOf(recurrence), start);
}

/** A bounded series (COUNT, UNTIL or an end time) is planned whole when written, so it may have at most this many runs. */
export const MAX_SERIES_RUNS = 5000;
/** An open-ended rule is checked for overlapping runs over this many first runs, within {@link OVERLAP_CHECK_SPAN_MS}. */
const OVERLAP_CHECK_RUNS = 1000;
/** How far from the first start an open-ended rule's runs are checked (a sparse rule need not be walked for ever). */
const OVERLAP_CHECK_SPAN_MS = 50 * 365 * 86_400_000;
/** The longest run. */
export const MAX_RUN_DURATION_MS = 366 * 86_400_000;

const list = (item: string) => new RegExp(`^${item}(,${item})*$`);
const number = (max: number, signed: boolean) => `${signed ? "[+-]?" : ""}(0|[1-9]\\d{0,${String(max).length - 1}})`;
/** The rule parts accepted, each with the form of its value (RFC 5545 section 3.3.10) and its numeric bound. */
const PARTS: Record<string, { form: RegExp; max?: number; min?: number }> = {
  FREQ: { form: /^(YEARLY|MONTHLY|WEEKLY|DAILY|HOURLY|MINUTELY)$/ },
  INTERVAL: { form: /^[1-9]\d{0,3}$/ },
  COUNT: { form: /^[1-9]\d{0,5}$/ },
  UNTIL: { form: /^\d{8}(T\d{6}Z)?$/ },
  BYSECOND: { form: list(number(59, false)), min: 0, max: 59 },
  BYMINUTE: { form: list(number(59, false)), min: 0, max: 59 },
  BYHOUR: { form: list(number(23, false)), min: 0, max: 23 },
  BYDAY: { form: list("([+-]?[1-9]\\d?)?(MO|TU|WE|TH|FR|SA|SU)"), min: 1, max: 53 },
  BYMONTHDAY: { form: list(number(31, true)), min: 1, max: 31 },
  BYYEARDAY: { form: list(number(366, true)), min: 1, max: 366 },
  BYWEEKNO: { form: list(number(53, true)), min: 1, max: 53 },
  BYMONTH: { form: list(number(12, false)), min: 1, max: 12 },
  BYSETPOS: { form: list(number(366, true)), min: 1, max: 366 },
  WKST: { form: /^(MO|TU|WE|TH|FR|SA|SU)$/ },
};

/** The numbers in a part's value, without sign (ordinals of BYDAY included). */
function magnitudes(value: string): number[] {
  return [...value.matchAll(/\d+/g)].map((m) => Number(m[0]));
}

/**
 * Reads a rule strictly: rrule's own parser accepts unknown values (`FREQ=BOGUS`) and rules without FREQ, so every
 * part is checked here first. Returns the normalized rule or what is wrong with it.
 */
export function parseRule(text: string): { rule: string } | { error: string } {
  const body = text
    .trim()
    .replace(/^RRULE:/i, "")
    .toUpperCase();
  if (body === "") return { error: "is required" };
  if (/[\r\n]/.test(body) || body.includes("DTSTART")) {
    return {
      error: "must be one RRULE value; give the first start as start_time (not DTSTART) and the zone as time_zone",
    };
  }
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const part of body.split(";")) {
    const [name, value, extra] = part.split("=");
    if (name === undefined || value === undefined || extra !== undefined || value === "") {
      return { error: `"${part}" is not of the form NAME=VALUE` };
    }
    const spec = PARTS[name];
    if (name === "TZID") return { error: "TZID is not a supported rule part: give the zone as recurrence.time_zone" };
    if (!spec) return { error: `${name} is not a supported rule part (${Object.keys(PARTS).join(", ")})` };
    if (seen.has(name)) return { error: `${name} is given twice` };
    seen.add(name);
    if (!spec.form.test(value)) return { error: `${name}=${value} is not a valid value` };
    if (spec.max !== undefined) {
      const bad = magnitudes(value).find((n) => n < (spec.min ?? 0) || n > (spec.max ?? 0));
      if (bad !== undefined) return { error: `${name}=${value}: ${bad} is out of range` };
    }
    parts.push(`${name}=${normalizedValue(name, value)}`);
  }
  if (!seen.has("FREQ")) return { error: "FREQ is required" };
  if (seen.has("COUNT") && seen.has("UNTIL")) return { error: "COUNT and UNTIL cannot both be given" };
  return { rule: parts.join(";") };
}

/** Parts whose values are a set of numbers. */
const NUMBER_LISTS = new Set([
  "BYSECOND",
  "BYMINUTE",
  "BYHOUR",
  "BYMONTHDAY",
  "BYYEARDAY",
  "BYWEEKNO",
  "BYMONTH",
  "BYSETPOS",
]);

/**
 * A part's value with its list in order and without repeats: the values are a set, and rrule emits a day's times in
 * the order given (`BYHOUR=18,6` would yield 18:00 before 06:00, and a repeated hour twice).
 */
function normalizedValue(name: string, value: string): string {
  const items = [...new Set(value.split(","))];
  if (NUMBER_LISTS.has(name)) items.sort((a, b) => Number(a) - Number(b));
  return items.join(",");
}

/**
 * Whether a walk of `rule` may start again at one of its occurrences and yield the same sequence from there. Not
 * with BYSETPOS or BYWEEKNO: rrule computes their sets from the walk's first period as it starts (a week from its
 * first day, a year of ISO weeks), so a walk started mid-period picks other occurrences.
 */
export function ruleContinues(rule: string): boolean {
  return !/(^|;)(BYSETPOS|BYWEEKNO)=/.test(rule);
}

/** Whether a rule (normalized by {@link parseRule}) ends by itself, with COUNT or UNTIL. */
export function ruleIsBounded(rule: string): boolean {
  return /(^|;)(COUNT|UNTIL)=/.test(rule);
}

const WEEKDAYS = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];

/** The values of a rule part as numbers (BYDAY: weekday names, ordinals dropped), or undefined when not given. */
function partValues(rule: string, name: string): string[] | undefined {
  const value = new RegExp(`(?:^|;)${name}=([^;]+)`).exec(rule)?.[1];
  return value?.split(",");
}

/**
 * The first part of `rule` (normalized by {@link parseRule}) that the wall-clock time `at` (as if UTC: in UTC, the
 * instant) does not satisfy, if any: a start that fails one cannot be an occurrence, and is refused without walking
 * the rule (a walk that looks for an hour an INTERVAL never reaches, or for a 31st of February, does not end).
 */
export function partNotMatched(rule: string, at: number): string | undefined {
  const date = new Date(at);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth() + 1;
  const day = date.getUTCDate();
  const monthLength = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const yearDay = Math.round((Date.UTC(year, month - 1, day) - Date.UTC(year, 0, 1)) / 86_400_000) + 1;
  const yearLength = new Date(Date.UTC(year, 1, 29)).getUTCMonth() === 1 ? 366 : 365;
  const numbers = (name: string) => partValues(rule, name)?.map(Number);
  const matches = (name: string, value: number, length?: number) => {
    const values = numbers(name);
    return !values || values.some((v) => v === value || (length !== undefined && v < 0 && length + 1 + v === value));
  };
  if (!matches("BYMONTH", month)) return "BYMONTH";
  if (!matches("BYMONTHDAY", day, monthLength)) return "BYMONTHDAY";
  if (!matches("BYYEARDAY", yearDay, yearLength)) return "BYYEARDAY";
  const weekdays = partValues(rule, "BYDAY")?.map((d) => d.slice(-2));
  if (weekdays && !weekdays.includes(WEEKDAYS[date.getUTCDay()] as string)) return "BYDAY";
  if (!matches("BYHOUR", date.getUTCHours())) return "BYHOUR";
  if (!matches("BYMINUTE", date.getUTCMinutes())) return "BYMINUTE";
  if (!matches("BYSECOND", date.getUTCSeconds())) return "BYSECOND";
  return undefined;
}

function ruleFrom(rule: string, dtstart: number): Rule {
  return new RRule({ ...RRule.parseString(rule), dtstart: new Date(dtstart) });
}

/**
 * A rule's walk in floating time and its ends: COUNT counts the occurrences offered (a wall-clock time moved onto
 * another by a gap is one run, not two), and an UNTIL in UTC bounds instants, not wall-clock times (RFC 5545 gives
 * UNTIL in UTC when DTSTART has a zone). An UNTIL date is a wall-clock bound and stays in the rule.
 */
function floatingWalk(rule: string): { floating: string; count: number; until: number } {
  const count = /(?:^|;)COUNT=(\d+)/.exec(rule)?.[1];
  const until = /(?:^|;)UNTIL=(\d{8}T\d{6}Z)/.exec(rule)?.[1];
  const floating = rule
    .split(";")
    .filter((part) => !part.startsWith("COUNT=") && !(until !== undefined && part.startsWith("UNTIL=")))
    .join(";");
  return {
    floating,
    count: count === undefined ? Number.POSITIVE_INFINITY : Number(count),
    until: (until === undefined ? undefined : parseBasicUtc(until)) ?? Number.POSITIVE_INFINITY,
  };
}

/**
 * The starts of the occurrences of `rule` in `timeZone` from `first` on (to the millisecond), while
 * `keep(start, index)` says so. The rule is walked in floating time from `first`'s wall clock, and each occurrence
 * placed in the zone (recurrence-zone.ts instantOf: a nonexistent time moves forward by the gap, a repeated one is
 * its first instant); one that lands on or before the previous start (in a gap) is not a second run. In UTC the
 * wall clock is the instant. A rule walked from one of its occurrences yields the same sequence from there when
 * {@link ruleContinues} (test/recurrence.test.ts checks it), which is how a series is extended without walking it
 * from its beginning.
 */
export function occurrenceStarts(
  rule: string,
  first: number,
  keep: (start: number, index: number) => boolean,
  memo?: WalkMemo,
  timeZone: string = UTC,
): number[] {
  const key = `${rule}@${first}@${timeZone}`;
  const walk = memo?.get(key) ?? { offered: [], walls: [], exhausted: false };
  memo?.set(key, walk);
  const starts: number[] = [];
  for (const [index, start] of walk.offered.entries()) {
    if (!keep(start, index)) return starts;
    starts.push(start);
  }
  if (walk.exhausted) return starts;
  // Walk on after the occurrences already offered: from the last of them where the rule allows, else from the first
  // start again, skipping those (each is offered to `keep` once).
  const known = walk.offered.length;
  const resume = known > 0 && ruleContinues(rule);
  const { floating, count, until } = floatingWalk(rule);
  let previous = resume ? (walk.offered[known - 1] as number) : Number.NEGATIVE_INFINITY;
  let replayed = resume ? known : 0;
  let stopped = false;
  const from = resume ? (walk.walls[known - 1] as number) : wallClockOf(timeZone, first);
  ruleFrom(floating, from).all((date) => {
    const wall = date.getTime();
    const start = instantOf(timeZone, wall);
    // Before the first start (a repeated wall-clock time read as its first instant), or a gap's duplicate.
    if (start < first || start <= previous) return true;
    previous = start;
    if (replayed < known) {
      replayed++;
      return true;
    }
    if (walk.offered.length >= count || start > until) return false;
    const index = walk.offered.length;
    walk.offered.push(start);
    walk.walls.push(wall);
    if (!keep(start, index)) {
      stopped = true;
      return false;
    }
    starts.push(start);
    return walk.offered.length < count;
  });
  walk.exhausted = !stopped;
  return starts;
}

/**
 * The occurrences of a rule already offered to walks (their instants, and their wall-clock times to walk on from),
 * by rule, first start and zone, so that a walk after another (a plan after a check) replays them and continues
 * after them rather than walking the rule again.
 */
export type WalkMemo = Map<string, { offered: number[]; walls: number[]; exhausted: boolean }>;

/**
 * Violations of a recurring schedule that starts at `startTime` and ends at `endLimit` (if given): the rule's own
 * form, `startTime` being its first occurrence (read as a wall-clock time in the schedule's zone), the run duration,
 * runs that would overlap (in instants: a 23-hour local day counts), and too many runs in a bounded series. `prefix`
 * is the path of the event in the request.
 */
export function checkRecurrence(
  recurrence: Recurrence,
  startTime: number,
  endLimit: number | undefined,
  prefix: string,
  memo?: WalkMemo,
): FieldViolation[] {
  const ruleField = `${prefix}.recurrence.rule`;
  const durationField = `${prefix}.recurrence.run_duration`;
  const violations: FieldViolation[] = [];
  const { runDurationMs } = recurrence;
  const durationValid = runDurationMs > 0 && runDurationMs <= MAX_RUN_DURATION_MS;
  if (runDurationMs <= 0) {
    violations.push({ field: durationField, description: "must be greater than zero", reason: "NOT_POSITIVE" });
  } else if (runDurationMs > MAX_RUN_DURATION_MS) {
    violations.push({ field: durationField, description: "must be at most 366 days", reason: "TOO_LONG" });
  }
  const parsed = parseRule(recurrence.rule);
  if ("error" in parsed) {
    return [...violations, { field: ruleField, description: parsed.error, reason: "INVALID_RULE" }];
  }
  // Rules repeat to the second.
  if (startTime % 1000 !== 0) {
    const description = "must be a whole second for a recurring event";
    return [...violations, { field: `${prefix}.start_time`, description, reason: "NOT_WHOLE_SECOND" }];
  }
  const zone = zoneOf(recurrence);
  const startText = zone === UTC ? new Date(startTime).toISOString() : wallClockText(zone, startTime);
  const unmatched = partNotMatched(parsed.rule, wallClockOf(zone, startTime));
  if (unmatched) {
    violations.push({
      field: `${prefix}.start_time`,
      description: `must be an occurrence of the rule: ${startText} does not satisfy ${unmatched}`,
      reason: "NOT_AN_OCCURRENCE",
    });
    return violations;
  }
  const bounded = ruleIsBounded(parsed.rule) || endLimit !== undefined;
  const limit = bounded ? MAX_SERIES_RUNS + 1 : OVERLAP_CHECK_RUNS;
  const span = bounded ? Number.POSITIVE_INFINITY : startTime + OVERLAP_CHECK_SPAN_MS;
  const starts = occurrenceStarts(
    parsed.rule,
    startTime,
    (start, index) => index < limit && start < span && (endLimit === undefined || start < endLimit),
    memo,
    zone,
  );
  if (starts[0] !== startTime) {
    const first =
      starts[0] === undefined
        ? "the rule has no occurrence from it on"
        : zone === UTC
          ? new Date(starts[0]).toISOString()
          : `${new Date(starts[0]).toISOString()}, ${wallClockText(zone, starts[0])}`;
    violations.push({
      field: `${prefix}.start_time`,
      description: `must be an occurrence of the rule (the first one from start_time on: ${first})`,
      reason: "NOT_AN_OCCURRENCE",
    });
    return violations;
  }
  if (bounded && starts.length > MAX_SERIES_RUNS) {
    violations.push({
      field: ruleField,
      description: `has more than ${MAX_SERIES_RUNS} runs before its end; leave the series open-ended or end it sooner`,
      reason: "TOO_MANY_RUNS",
    });
  }
  let gap = Number.POSITIVE_INFINITY;
  for (let i = 1; i < starts.length; i++) gap = Math.min(gap, (starts[i] as number) - (starts[i - 1] as number));
  if (durationValid && runDurationMs > gap) {
    violations.push({
      field: durationField,
      description: `runs would overlap: two runs start ${gap / 1000} s apart, less than the run duration of ${runDurationMs / 1000} s`,
      reason: "RUNS_OVERLAP",
    });
  }
  return violations;
}
