import * as rrulePackage from "rrule";
import { instantOf, wallClockOf } from "../../src/events/recurrence-zone.js";

// rrule's ES module (what Vite bundles) has named exports only; under Node (the component tests) it is CommonJS,
// whose exports arrive as `default`.
const { RRule } = (Reflect.get(rrulePackage, "default") as typeof rrulePackage | undefined) ?? rrulePackage;

/**
 * A schedule as the builder edits it, every date and time a wall-clock time in `zone`. The server reads a recurring
 * event's start_time, as a wall-clock time in recurrence.time_zone, as the rule's DTSTART (recurrence.ts), and so
 * does {@link runStarts}.
 */
export interface Schedule {
  repeats: boolean;
  /** The IANA zone of every date and time below. */
  zone: string;
  /** A one-off event's start date, or a series' first date (its first run is the first occurrence from it on). */
  startDate: string;
  /** The time of day of the start (`HH:MM` or `HH:MM:SS`). */
  startTime: string;
  /** A one-off event's end. */
  endDate: string;
  endTime: string;
  frequency: Frequency;
  /** Every how many days, weeks or months. */
  interval: string;
  weekdays: Weekday[];
  /** Monthly on a day of the month, or on the nth weekday. */
  monthly: "day" | "weekday";
  /** 1 to 31, or -1 for the last day. */
  monthDay: string;
  /** 1 to 4, or -1 for the last. */
  nth: string;
  nthWeekday: Weekday;
  durationDays: string;
  durationHours: string;
  durationMinutes: string;
  ends: "never" | "count" | "until";
  count: string;
  /** The last date a run may start on. */
  untilDate: string;
  /** The whole rule, when `frequency` is CUSTOM (a rule the pickers cannot show). */
  customRule: string;
}

export type Frequency = "DAILY" | "WEEKLY" | "MONTHLY" | "CUSTOM";
export type Weekday = "MO" | "TU" | "WE" | "TH" | "FR" | "SA" | "SU";
/** Weekdays in the order of a week that starts on Monday (RFC 5545's default WKST). */
export const WEEKDAYS: readonly Weekday[] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
export const WEEKDAY_NAMES: Record<Weekday, string> = {
  MO: "Monday",
  TU: "Tuesday",
  WE: "Wednesday",
  TH: "Thursday",
  FR: "Friday",
  SA: "Saturday",
  SU: "Sunday",
};
export const ORDINALS: Record<string, string> = {
  "1": "first",
  "2": "second",
  "3": "third",
  "4": "fourth",
  "-1": "last",
};
/** Date.getUTCDay() to a weekday. */
const BY_JS_DAY: readonly Weekday[] = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];
const DAY_MS = 86_400_000;

/** The browser's time zone. */
export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** The zones the builder offers: every IANA zone the browser knows, UTC, and `current` (the schedule's own). */
export function timeZoneChoices(current: string): string[] {
  const zones = new Set(typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : []);
  zones.add("UTC");
  zones.add(current);
  return [...zones].sort();
}

/** A date and a time of day (as the inputs give them) as a wall-clock time: milliseconds as if it were UTC. */
export function wallOf(date: string, time: string): number | undefined {
  const d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const t = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(time);
  if (!d || !t) return undefined;
  const wall = new Date(0);
  wall.setUTCFullYear(Number(d[1]), Number(d[2]) - 1, Number(d[3]));
  wall.setUTCHours(Number(t[1]), Number(t[2]), Number(t[3] ?? 0));
  return Number.isNaN(wall.getTime()) ? undefined : wall.getTime();
}

/** The date input's value (`YYYY-MM-DD`) of a wall-clock time. */
export function dateTextOf(wall: number): string {
  return new Date(wall).toISOString().slice(0, 10);
}

/** The time input's value (`HH:MM`, with seconds only when there are some) of a wall-clock time. */
export function timeTextOf(wall: number): string {
  const text = new Date(wall).toISOString().slice(11, 19);
  return text.endsWith(":00") ? text.slice(0, 5) : text;
}

/** A rule written as NAME=VALUE parts, by name. */
function partsOf(rule: string): Map<string, string> {
  return new Map(
    rule
      .trim()
      .replace(/^RRULE:/i, "")
      .toUpperCase()
      .split(";")
      .filter((p) => p !== "")
      .map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]),
  );
}

/** A whole number from `min` on, or undefined. */
function wholeNumber(text: string, min = 0): number | undefined {
  return /^\d+$/.test(text.trim()) && Number(text) >= min ? Number(text) : undefined;
}

/** An instant as RFC 5545's UTC form, `20271231T225959Z`. */
function basicUtc(instant: number): string {
  return `${new Date(instant).toISOString().slice(0, 19).replace(/[-:]/g, "")}Z`;
}

function parseBasicUtc(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  return wallOf(`${m[1]}-${m[2]}-${m[3]}`, `${m[4]}:${m[5]}:${m[6]}`);
}

/** The instant UNTIL gives for "runs start on or before `date`" in `zone`: the end of that day. */
function untilInstant(date: string, zone: string): number | undefined {
  const wall = wallOf(date, "23:59:59");
  return wall === undefined ? undefined : instantOf(zone, wall);
}

/** The rule the pickers say, with its end (COUNT or UNTIL); a CUSTOM rule as typed. */
export function ruleOf(s: Schedule): string {
  if (s.frequency === "CUSTOM") return s.customRule.trim().replace(/^RRULE:/i, "");
  const parts = [`FREQ=${s.frequency}`];
  const interval = wholeNumber(s.interval, 1) ?? 1;
  if (interval > 1) parts.push(`INTERVAL=${interval}`);
  if (s.frequency === "WEEKLY") parts.push(`BYDAY=${WEEKDAYS.filter((d) => s.weekdays.includes(d)).join(",")}`);
  if (s.frequency === "MONTHLY") {
    // The nth weekday as an ordinal BYDAY (2SU) rather than BYDAY=SU;BYSETPOS=2: the same runs, and the server can
    // go on walking such a rule from any of its runs (recurrence.ts ruleContinues).
    parts.push(s.monthly === "day" ? `BYMONTHDAY=${s.monthDay}` : `BYDAY=${s.nth}${s.nthWeekday}`);
  }
  const [hour = "0", minute = "0", second = "0"] = s.startTime.split(":");
  parts.push(`BYHOUR=${Number(hour)}`, `BYMINUTE=${Number(minute)}`);
  if (Number(second) !== 0) parts.push(`BYSECOND=${Number(second)}`);
  if (s.ends === "count") parts.push(`COUNT=${s.count.trim()}`);
  if (s.ends === "until") {
    const until = untilInstant(s.untilDate, s.zone);
    if (until !== undefined) parts.push(`UNTIL=${basicUtc(until)}`);
  }
  return parts.join(";");
}

/** How long each run lasts, in seconds (undefined while an input is not a whole number). */
export function runDurationSeconds(s: Schedule): number | undefined {
  const [days, hours, minutes] = [s.durationDays, s.durationHours, s.durationMinutes].map((t) =>
    t.trim() === "" ? 0 : wholeNumber(t),
  );
  if (days === undefined || hours === undefined || minutes === undefined) return undefined;
  return days * 86_400 + hours * 3_600 + minutes * 60;
}

/** A rule's walk in floating time and its ends, as the server walks it (recurrence.ts floatingWalk). */
function floatingWalk(rule: string): { floating: string; count: number; until: number } {
  const parts = partsOf(rule);
  const count = parts.get("COUNT");
  const until = parts.get("UNTIL");
  const utcUntil = until?.endsWith("Z") ? parseBasicUtc(until) : undefined;
  const floating = [...parts]
    .filter(([name, value]) => name !== "COUNT" && !(name === "UNTIL" && value.endsWith("Z")))
    .map(([name, value]) => `${name}=${value}`)
    .join(";");
  return {
    floating,
    count: count === undefined ? Number.POSITIVE_INFINITY : Number(count),
    until: utcUntil ?? Number.POSITIVE_INFINITY,
  };
}

/** A run of a previewed schedule: its start, and the wall-clock time the rule gave it (which a gap may move). */
export interface PlannedStart {
  start: number;
  wall: number;
}

/**
 * The first `limit` runs of `rule` in `zone` from `first` on, with the server's semantics (recurrence.ts
 * occurrenceStarts): the rule walked in floating time from `first`'s wall clock, each occurrence placed in the zone
 * (a time in a gap moves forward by the gap, a repeated time is its earlier instant), one that lands on or before
 * the previous run dropped, COUNT counting runs and a UTC UNTIL bounding instants. Undefined when the rule is one
 * {@link walkable} does not vouch for.
 */
export function runStarts(rule: string, first: number, zone: string, limit: number): PlannedStart[] | undefined {
  if (!walkable(rule, wallClockOf(zone, first))) return undefined;
  const { floating, count, until } = floatingWalk(rule);
  const runs: PlannedStart[] = [];
  let previous = Number.NEGATIVE_INFINITY;
  const walk = new RRule({ ...RRule.parseString(floating), dtstart: new Date(wallClockOf(zone, first)) });
  walk.all((date) => {
    const wall = date.getTime();
    const start = instantOf(zone, wall);
    if (start < first || start <= previous) return true;
    previous = start;
    if (runs.length >= count || start > until) return false;
    runs.push({ start, wall });
    return runs.length < Math.min(count, limit);
  });
  return runs;
}

const WALKABLE_PARTS = new Set(["FREQ", "INTERVAL", "BYMONTH", "BYMONTHDAY", "BYDAY", "BYHOUR", "BYMINUTE"]);
const SCANNED_YEARS = 10;

/**
 * Whether rrule's walk of `rule` from `from` surely meets enough occurrences soon. rrule looks for an occurrence
 * until the year 9999 (a rule for the 30th of February takes it seconds to minutes), and the server walks rules in a
 * worker with a time limit, which a browser tab has not. So the preview walks only daily, weekly and monthly rules
 * of the parts below, after a scan of the next ten years' days finds six that can be occurrences; other rules are
 * left to the server's check.
 */
export function walkable(rule: string, from: number): boolean {
  const parts = partsOf(rule);
  const freq = parts.get("FREQ");
  if (freq !== "DAILY" && freq !== "WEEKLY" && freq !== "MONTHLY") return false;
  for (const [name, value] of parts) {
    if (name === "COUNT" || name === "UNTIL" || name === "BYSECOND" || (name === "WKST" && value === "MO")) continue;
    if (!WALKABLE_PARTS.has(name)) return false;
  }
  const interval = Number(parts.get("INTERVAL") ?? 1);
  const list = (name: string) => parts.get(name)?.split(",");
  const months = list("BYMONTH")?.map(Number);
  const monthDays = list("BYMONTHDAY")?.map(Number);
  const byDay = list("BYDAY");
  // An ordinal weekday counts within the month (MONTHLY only); 1 to 4 and -1 occur every month.
  if (byDay?.some((d) => d.length > 2 && !(freq === "MONTHLY" && /^(-1|\+?[1-4])[A-Z]{2}$/.test(d)))) return false;
  const weekdays = byDay?.map((d) => d.slice(-2));
  const start = new Date(from);
  const startDay = Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate());
  const startMonth = start.getUTCFullYear() * 12 + start.getUTCMonth();
  const startWeek = Math.floor((startDay / DAY_MS + 3) / 7); // weeks from Monday 1969-12-29
  let found = 0;
  for (let day = startDay; day < startDay + SCANNED_YEARS * 366 * DAY_MS && found < 6; day += DAY_MS) {
    const date = new Date(day);
    const monthLength = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
    const aligned =
      freq === "DAILY"
        ? ((day - startDay) / DAY_MS) % interval === 0
        : freq === "WEEKLY"
          ? (Math.floor((day / DAY_MS + 3) / 7) - startWeek) % interval === 0
          : (date.getUTCFullYear() * 12 + date.getUTCMonth() - startMonth) % interval === 0;
    if (!aligned) continue;
    if (months && !months.includes(date.getUTCMonth() + 1)) continue;
    if (monthDays && !monthDays.some((d) => d === date.getUTCDate() || monthLength + 1 + d === date.getUTCDate())) {
      continue;
    }
    if (weekdays && !weekdays.includes(BY_JS_DAY[date.getUTCDay()] as Weekday)) continue;
    found++;
  }
  return found >= 6;
}

/** Whether a wall-clock time exists in `zone` (is not in the gap of a change to daylight-saving time). */
export function wallClockExists(zone: string, wall: number): boolean {
  return wallClockOf(zone, instantOf(zone, wall)) === wall;
}

/** A series' first run: the first occurrence from its first date and time on whose wall-clock time exists. */
export interface FirstRun {
  start: number;
  /** The occurrences skipped for being in a gap (their wall-clock times). */
  skipped: number[];
}

/**
 * The first run of a repeating schedule. The server requires start_time to be an occurrence of the rule read at
 * its own wall clock, and a time moved out of a gap reads as another time of day (02:30 becomes 03:30, which
 * BYHOUR=2 does not allow): so a first occurrence in a gap is skipped, and the rule's later ones in gaps move
 * forward as the server moves them.
 */
export function firstRun(s: Schedule): FirstRun | undefined {
  const from = wallOf(s.startDate, s.startTime);
  const rule = ruleOf(s);
  if (from === undefined || !walkable(rule, from)) return undefined;
  const { floating } = floatingWalk(rule);
  const skipped: number[] = [];
  let start: number | undefined;
  new RRule({ ...RRule.parseString(floating), dtstart: new Date(from) }).all((date) => {
    const wall = date.getTime();
    if (wallClockExists(s.zone, wall)) start = instantOf(s.zone, wall);
    else skipped.push(wall);
    return start === undefined && skipped.length < 5;
  });
  return start === undefined ? undefined : { start, skipped };
}

/** The fields of an event that a schedule gives (times as instants in milliseconds). */
export interface ScheduleFields {
  startMs: number | undefined;
  endMs: number | undefined;
  recurrence: { rule: string; runDurationSeconds: number; timeZone: string } | undefined;
}

/**
 * The event's start, end and recurrence. A series starts at its first run, or (a custom rule the preview does not
 * walk) at its first date and time, for the server to check.
 */
export function scheduleFields(s: Schedule): ScheduleFields {
  const startWall = wallOf(s.startDate, s.startTime);
  if (!s.repeats) {
    const endWall = wallOf(s.endDate, s.endTime);
    return {
      startMs: startWall === undefined ? undefined : instantOf(s.zone, startWall),
      endMs: endWall === undefined ? undefined : instantOf(s.zone, endWall),
      recurrence: undefined,
    };
  }
  const first = firstRun(s)?.start ?? (startWall === undefined ? undefined : instantOf(s.zone, startWall));
  return {
    startMs: first,
    endMs: undefined,
    recurrence: { rule: ruleOf(s), runDurationSeconds: runDurationSeconds(s) ?? 0, timeZone: s.zone },
  };
}

/** The pickers' values of a rule, or undefined when they cannot show it (it is then a CUSTOM rule). */
export function pickersOf(rule: string, start: number, zone: string): Partial<Schedule> | undefined {
  const parts = partsOf(rule);
  const freq = parts.get("FREQ");
  const wall = new Date(wallClockOf(zone, start));
  const weekday = BY_JS_DAY[wall.getUTCDay()] as Weekday;
  const allowed = ["FREQ", "INTERVAL", "BYHOUR", "BYMINUTE", "BYSECOND", "COUNT", "UNTIL", "WKST"];
  if (freq === "WEEKLY") allowed.push("BYDAY");
  else if (freq === "MONTHLY") allowed.push("BYDAY", "BYMONTHDAY", "BYSETPOS");
  else if (freq !== "DAILY") return undefined;
  if ([...parts.keys()].some((name) => !allowed.includes(name))) return undefined;
  if ((parts.get("WKST") ?? "MO") !== "MO") return undefined;
  const time = [wall.getUTCHours(), wall.getUTCMinutes(), wall.getUTCSeconds()];
  for (const [i, name] of ["BYHOUR", "BYMINUTE", "BYSECOND"].entries()) {
    const value = parts.get(name);
    if (value !== undefined && (!/^\d+$/.test(value) || Number(value) !== time[i])) return undefined;
  }
  const picked: Partial<Schedule> = { frequency: freq, interval: parts.get("INTERVAL") ?? "1" };
  const byDay = parts.get("BYDAY");
  if (freq === "WEEKLY") {
    const days = (byDay ?? weekday).split(",");
    if (!days.every((d): d is Weekday => (WEEKDAYS as string[]).includes(d)) || !days.includes(weekday)) {
      return undefined;
    }
    picked.weekdays = days;
  }
  if (freq === "MONTHLY") {
    const monthDay = parts.get("BYMONTHDAY");
    const setPos = parts.get("BYSETPOS");
    const monthLength = new Date(Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth() + 1, 0)).getUTCDate();
    const nthOf = (n: number) =>
      n === -1 ? wall.getUTCDate() + 7 > monthLength : Math.ceil(wall.getUTCDate() / 7) === n;
    if (byDay !== undefined) {
      const m = /^([+-]?\d)?([A-Z]{2})$/.exec(byDay);
      const nth = m?.[1] ?? setPos;
      if (!m || monthDay !== undefined || (m[1] && setPos) || !nth || m[2] !== weekday) return undefined;
      const n = Number(nth);
      if (!ORDINALS[String(n)] || !nthOf(n)) return undefined;
      Object.assign(picked, { monthly: "weekday", nth: String(n), nthWeekday: weekday });
    } else {
      if (setPos !== undefined) return undefined;
      const day = monthDay ?? String(wall.getUTCDate());
      if (!/^(-1|[1-9]|[12]\d|3[01])$/.test(day)) return undefined;
      if (day === "-1" ? wall.getUTCDate() !== monthLength : Number(day) !== wall.getUTCDate()) return undefined;
      Object.assign(picked, { monthly: "day", monthDay: day });
    }
  }
  const count = parts.get("COUNT");
  const until = parts.get("UNTIL");
  if (count !== undefined) Object.assign(picked, { ends: "count", count });
  else if (until !== undefined) {
    const instant = parseBasicUtc(until);
    if (instant === undefined) return undefined;
    const untilWall = wallClockOf(zone, instant);
    if (timeTextOf(untilWall) !== "23:59:59") return undefined;
    Object.assign(picked, { ends: "until", untilDate: dateTextOf(untilWall) });
  } else picked.ends = "never";
  return picked;
}

/** The defaults of a new schedule: tomorrow at 18:00 in the viewer's zone, weekly, two hours. */
export function newSchedule(zone: string, now = Date.now()): Schedule {
  const tomorrow = dateTextOf(wallClockOf(zone, now) + DAY_MS);
  const weekday = BY_JS_DAY[new Date(`${tomorrow}T00:00:00Z`).getUTCDay()] as Weekday;
  return {
    repeats: false,
    zone,
    startDate: tomorrow,
    startTime: "18:00",
    endDate: tomorrow,
    endTime: "20:00",
    frequency: "WEEKLY",
    interval: "1",
    weekdays: [weekday],
    monthly: "day",
    monthDay: String(Number(tomorrow.slice(8))),
    nth: "1",
    nthWeekday: weekday,
    durationDays: "0",
    durationHours: "2",
    durationMinutes: "0",
    ends: "never",
    count: "10",
    untilDate: "",
    customRule: "",
  };
}

/** The schedule of an event (its start and end as instants, its recurrence), read back into the pickers. */
export function scheduleOf(
  event: { startMs?: number | undefined; endMs?: number | undefined; recurrence?: ScheduleFields["recurrence"] },
  viewerZone: string,
  now = Date.now(),
): Schedule {
  const zone = event.recurrence ? event.recurrence.timeZone || "UTC" : viewerZone;
  const s = newSchedule(zone, now);
  if (event.startMs !== undefined) {
    const wall = wallClockOf(zone, event.startMs);
    Object.assign(s, { startDate: dateTextOf(wall), startTime: timeTextOf(wall) });
    const weekday = BY_JS_DAY[new Date(wall).getUTCDay()] as Weekday;
    Object.assign(s, { weekdays: [weekday], nthWeekday: weekday, monthDay: String(new Date(wall).getUTCDate()) });
  }
  if (event.endMs !== undefined && !event.recurrence) {
    const wall = wallClockOf(zone, event.endMs);
    Object.assign(s, { endDate: dateTextOf(wall), endTime: timeTextOf(wall) });
  }
  if (event.recurrence) {
    s.repeats = true;
    const seconds = event.recurrence.runDurationSeconds;
    s.durationDays = String(Math.floor(seconds / 86_400));
    s.durationHours = String(Math.floor((seconds % 86_400) / 3_600));
    s.durationMinutes = String(Math.floor((seconds % 3_600) / 60));
    const picked = event.startMs === undefined ? undefined : pickersOf(event.recurrence.rule, event.startMs, zone);
    if (picked) Object.assign(s, picked);
    else Object.assign(s, { frequency: "CUSTOM", customRule: event.recurrence.rule });
  }
  return s;
}
