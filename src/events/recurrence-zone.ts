/**
 * Wall-clock time in an IANA time zone. A rule with a time zone is expanded in floating time (each occurrence a
 * wall-clock time, held as milliseconds as if it were UTC) and each occurrence is then placed in the zone: this is
 * the one conversion between the two.
 */

/** The zone of a rule without one. */
export const UTC = "UTC";

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterOf(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}

/**
 * The canonical name of an IANA time zone (`europe/berlin` is `Europe/Berlin`, `US/Eastern` is
 * `America/New_York`, `Etc/UTC` and `GMT` are `UTC`), or undefined when `name` is not one. Offsets such as
 * `+01:00` are not zones: their rules do not follow daylight-saving time.
 */
export function canonicalTimeZone(name: string): string | undefined {
  if (!/^[A-Za-z]/.test(name)) return undefined;
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/** How far `zone`'s wall clock is ahead of UTC at `instant`, in milliseconds. */
export function zoneOffsetMs(zone: string, instant: number): number {
  if (zone === UTC) return 0;
  const parts = formatterOf(zone).formatToParts(new Date(instant));
  const part = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  const wall = new Date(0);
  // setUTCFullYear, unlike Date.UTC, keeps years 1 to 99 as they are.
  wall.setUTCFullYear(part("year"), part("month") - 1, part("day"));
  wall.setUTCHours(part("hour"), part("minute"), part("second"));
  const wholeSecond = instant - (((instant % 1000) + 1000) % 1000);
  return wall.getTime() - wholeSecond;
}

const weekStartOffsets = new Map<string, number>();

/**
 * The offset of `zone` at the start of week `week` (7-day spans from 1970), remembered: a walk of a rule asks for
 * the same few weeks again and again.
 */
function weekStartOffsetMs(zone: string, week: number): number {
  const key = `${zone} ${week}`;
  let offset = weekStartOffsets.get(key);
  if (offset === undefined) {
    // Bounded: a walk of decades of runs asks for thousands of weeks, and a worker lives on.
    if (weekStartOffsets.size >= 100_000) weekStartOffsets.clear();
    offset = zoneOffsetMs(zone, week * WEEK_MS);
    weekStartOffsets.set(key, offset);
  }
  return offset;
}

/** The wall-clock time in `zone` at `instant` (as milliseconds, as if it were UTC). */
export function wallClockOf(zone: string, instant: number): number {
  return instant + zoneOffsetMs(zone, instant);
}

/**
 * The instant at which `zone`'s wall clock reads `wall`. As RFC 5545 says: a time that does not exist (in the gap
 * of a change to daylight-saving time) is read with the offset before the gap, so it moves forward by the gap
 * (02:30 becomes 03:30); a time that happens twice (when the clocks go back) is its first, earlier instant.
 */
export function instantOf(zone: string, wall: number): number {
  if (zone === UTC) return wall;
  // Offsets are within 14 hours, so the instant lies within a day of `wall`. The same offset at the starts of the
  // weeks around that span (as almost always: zones change their offset months apart) is the offset of the instant.
  const early = weekStartOffsetMs(zone, Math.floor((wall - DAY_MS) / WEEK_MS));
  if (early === weekStartOffsetMs(zone, Math.floor((wall + DAY_MS) / WEEK_MS) + 1)) return wall - early;
  const before = zoneOffsetMs(zone, wall - DAY_MS);
  const after = zoneOffsetMs(zone, wall + DAY_MS);
  const candidates = [wall - before, wall - after].filter((t) => wallClockOf(zone, t) === wall);
  return candidates.length > 0 ? Math.min(...candidates) : wall - before;
}

/**
 * Whether `instant` is the place of one wall-clock time only, so that a walk of a rule can start again there from
 * its wall clock. Not the hour after a gap: 03:30 there is also where a nonexistent 02:30 was moved, and a rule that
 * gave 02:30 would go on at 03:30 if walked again from there.
 */
export function wallClockIsUnique(zone: string, instant: number): boolean {
  if (zone === UTC) return true;
  const wall = wallClockOf(zone, instant);
  const movedFrom = instant + zoneOffsetMs(zone, instant - DAY_MS);
  return movedFrom === wall || instantOf(zone, movedFrom) !== instant;
}

/** A wall-clock time written for people, with its zone: `2027-03-28T03:30:00 Europe/Berlin`. */
export function wallClockText(zone: string, instant: number): string {
  return `${new Date(wallClockOf(zone, instant)).toISOString().slice(0, 19)} ${zone}`;
}
