import { wallClockOf } from "../../src/events/recurrence-zone.js";
import { durationWords } from "./errors.js";
import {
  firstRun,
  ORDINALS,
  type PlannedStart,
  runDurationSeconds,
  runStarts,
  type Schedule,
  scheduleFields,
  WEEKDAY_NAMES,
  WEEKDAYS,
  wallOf,
} from "./schedule.js";

/** A list for people: "Monday, Wednesday and Friday". */
function listWords(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** A date and time in `zone`, as "Sun, 28 Mar 2027, 18:00" (or only the date, or only the time). */
export function formatIn(zone: string, instant: number, part: "datetime" | "date" | "time" = "datetime"): string {
  const key = `${zone}|${part}`;
  let format = formats.get(key);
  if (!format) {
    const date = { weekday: "short", day: "numeric", month: "short", year: "numeric" } as const;
    const time = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" } as const;
    format = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone,
      ...(part !== "time" ? date : {}),
      ...(part !== "date" ? time : {}),
    });
    formats.set(key, format);
  }
  return format.format(new Date(instant));
}

/** A wall-clock date (as the date input gives it) for people: "Sun, 28 Mar 2027". */
function dateWords(date: string): string {
  const wall = wallOf(date, "00:00");
  return wall === undefined ? date : formatIn("UTC", wall, "date");
}

/** What the rule's pattern says: "Every Sunday", "Every 2 weeks on Monday and Friday", "Every month on day 15". */
function patternWords(s: Schedule): string {
  const n = Number(s.interval) > 1 ? Number(s.interval) : 1;
  const every = (unit: string) => (n === 1 ? `Every ${unit}` : `Every ${n} ${unit}s`);
  switch (s.frequency) {
    case "DAILY":
      return every("day");
    case "WEEKLY": {
      const days = listWords(WEEKDAYS.filter((d) => s.weekdays.includes(d)).map((d) => WEEKDAY_NAMES[d]));
      return n === 1 ? `Every ${days}` : `${every("week")} on ${days}`;
    }
    case "MONTHLY":
      if (s.monthly === "weekday") {
        return `${every("month")} on the ${ORDINALS[s.nth] ?? s.nth} ${WEEKDAY_NAMES[s.nthWeekday]}`;
      }
      return `${every("month")} on ${s.monthDay === "-1" ? "the last day" : `day ${s.monthDay}`}`;
    default:
      return `By the rule ${s.customRule.trim()}`;
  }
}

/** How the series ends: ", 10 runs", ", until Sun, 31 Dec 2027", ", with no end". */
function endWords(s: Schedule): string {
  if (s.frequency === "CUSTOM") return "";
  if (s.ends === "count") return `, ${Number(s.count) || 0} run${Number(s.count) === 1 ? "" : "s"}`;
  if (s.ends === "until") return s.untilDate ? `, until ${dateWords(s.untilDate)}` : "";
  return ", with no end";
}

/** The schedule in words: "Every Sunday at 18:00 (Europe/Berlin), for 2 hours, 10 runs". */
export function describeSchedule(s: Schedule): string {
  if (!s.repeats) {
    const { startMs, endMs } = scheduleFields(s);
    if (startMs === undefined || endMs === undefined) return `Once (${s.zone}): give its start and end`;
    return `Once, from ${formatIn(s.zone, startMs)} to ${formatIn(s.zone, endMs)} (${s.zone})`;
  }
  const duration = runDurationSeconds(s);
  const time = s.startTime.length === 8 && !s.startTime.endsWith(":00") ? s.startTime : s.startTime.slice(0, 5);
  return `${patternWords(s)} at ${time} (${s.zone})${duration ? `, for ${durationWords(duration)}` : ""}${endWords(s)}`;
}

/** A run of the preview, written in the schedule's zone and, when it differs, in the viewer's. */
export interface PreviewRun {
  start: number;
  end: number;
  /** "Sun, 28 Mar 2027, 18:00–20:00 Europe/Berlin". */
  inZone: string;
  /** The same in the viewer's zone, when it is another one. */
  inViewerZone?: string;
  /** Why the run does not start at the rule's time of day (a gap). */
  note?: string;
}

/** A preview of a schedule: its next runs, or why there is none. */
export interface Preview {
  runs: PreviewRun[];
  /** What the preview could not do, or what moved the first run. */
  notes: string[];
}

/** A run's span in a zone: "Sun, 28 Mar 2027, 18:00–20:00 Europe/Berlin" (the end's date only when it differs). */
function spanIn(zone: string, start: number, end: number): string {
  const sameDay = formatIn(zone, start, "date") === formatIn(zone, end, "date");
  return `${formatIn(zone, start)}–${sameDay ? formatIn(zone, end, "time") : formatIn(zone, end)} ${zone}`;
}

/** The next `limit` runs of a schedule, computed in the browser with the server's semantics. */
export function previewSchedule(s: Schedule, viewerZone: string, limit = 5): Preview {
  const fields = scheduleFields(s);
  const notes: string[] = [];
  const run = ({ start, wall }: PlannedStart, seconds: number): PreviewRun => {
    const end = start + seconds * 1000;
    const moved = wallClockOf(s.zone, start) !== wall;
    return {
      start,
      end,
      inZone: spanIn(s.zone, start, end),
      ...(viewerZone !== s.zone ? { inViewerZone: spanIn(viewerZone, start, end) } : {}),
      ...(moved
        ? {
            note: `${formatIn("UTC", wall, "time")} does not exist that day in ${s.zone} (the clocks go forward): it starts at ${formatIn(s.zone, start, "time")}`,
          }
        : {}),
    };
  };
  if (!s.repeats || !fields.recurrence) {
    if (fields.startMs === undefined || fields.endMs === undefined) return { runs: [], notes };
    if (fields.endMs <= fields.startMs) return { runs: [], notes: ["The end is not after the start."] };
    const seconds = Math.max(0, (fields.endMs - fields.startMs) / 1000);
    return { runs: [run({ start: fields.startMs, wall: wallClockOf(s.zone, fields.startMs) }, seconds)], notes };
  }
  const first = firstRun(s);
  if (fields.startMs === undefined) return { runs: [], notes: ["Give the first date and the time of day."] };
  const starts = first ? runStarts(fields.recurrence.rule, first.start, s.zone, limit) : undefined;
  if (!starts) {
    notes.push(
      "No preview for this rule: it has no run in the next ten years, or uses parts the preview does not walk. The server checks it when you save.",
    );
    return { runs: [], notes };
  }
  for (const skipped of first?.skipped ?? []) {
    notes.push(
      `${formatIn("UTC", skipped, "time")} does not exist on ${formatIn("UTC", skipped, "date")} in ${s.zone} (the clocks go forward), so the first run is the next one.`,
    );
  }
  return { runs: starts.map((start) => run(start, fields.recurrence?.runDurationSeconds ?? 0)), notes };
}
