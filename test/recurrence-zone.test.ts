import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkRecurrence, occurrenceStarts, parseRule, type WalkMemo } from "../src/events/recurrence.js";
import {
  canonicalTimeZone,
  instantOf,
  wallClockIsUnique,
  wallClockOf,
  zoneOffsetMs,
} from "../src/events/recurrence-zone.js";
import { planRuns } from "../src/events/run-planning.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const iso = (ms: number) => new Date(ms).toISOString();
/** A wall-clock time, as milliseconds as if it were UTC. */
const wall = (y: number, mo: number, d: number, h: number, mi = 0) => Date.UTC(y, mo - 1, d, h, mi);
const BERLIN = "Europe/Berlin";

describe("time zone names", () => {
  it.each([
    ["Europe/Berlin", "Europe/Berlin"],
    ["europe/berlin", "Europe/Berlin"],
    ["US/Eastern", "America/New_York"],
    ["UTC", "UTC"],
    ["Etc/UTC", "UTC"],
    ["GMT", "UTC"],
  ])("reads %j as the canonical %j", (name, canonical) => {
    expect(canonicalTimeZone(name)).toBe(canonical);
  });

  it.each(["Mars/Olympus_Mons", "Europe/Berln", "+01:00", "CET+1", " Europe/Berlin", ""])("refuses %j", (name) => {
    expect(canonicalTimeZone(name)).toBeUndefined();
  });
});

describe("wall-clock time in a zone", () => {
  it("reads the offset of winter and summer time", () => {
    expect(zoneOffsetMs(BERLIN, Date.UTC(2027, 0, 15))).toBe(HOUR);
    expect(zoneOffsetMs(BERLIN, Date.UTC(2027, 6, 15))).toBe(2 * HOUR);
    expect(zoneOffsetMs("America/New_York", Date.UTC(2027, 0, 15))).toBe(-5 * HOUR);
    expect(zoneOffsetMs("Asia/Kolkata", Date.UTC(2027, 0, 15))).toBe(5.5 * HOUR);
  });

  it("keeps the milliseconds of an instant", () => {
    expect(wallClockOf(BERLIN, Date.UTC(2027, 0, 15, 12, 0, 0, 250))).toBe(Date.UTC(2027, 0, 15, 13, 0, 0, 250));
  });

  it("moves a time in the spring-forward gap forward by the gap: 02:30 in Berlin is 03:30 CEST", () => {
    expect(iso(instantOf(BERLIN, wall(2027, 3, 28, 2, 30)))).toBe("2027-03-28T01:30:00.000Z");
    expect(iso(wallClockOf(BERLIN, Date.parse("2027-03-28T01:30:00Z")))).toBe("2027-03-28T03:30:00.000Z");
  });

  it("reads a repeated time at fall-back as its first instant: 02:30 in Berlin is 02:30 CEST", () => {
    expect(iso(instantOf(BERLIN, wall(2027, 10, 31, 2, 30)))).toBe("2027-10-31T00:30:00.000Z");
    expect(iso(instantOf(BERLIN, wall(2027, 10, 31, 3, 0)))).toBe("2027-10-31T02:00:00.000Z");
  });

  it("handles the southern hemisphere: Sydney goes forward in October and back in April", () => {
    const sydney = "Australia/Sydney";
    expect(iso(instantOf(sydney, wall(2027, 10, 3, 2, 30)))).toBe("2027-10-02T16:30:00.000Z"); // 03:30 AEDT
    expect(iso(instantOf(sydney, wall(2027, 4, 4, 2, 30)))).toBe("2027-04-03T15:30:00.000Z"); // 02:30 AEDT
    expect(iso(instantOf(sydney, wall(2027, 7, 1, 18)))).toBe("2027-07-01T08:00:00.000Z");
    expect(iso(instantOf(sydney, wall(2027, 1, 1, 18)))).toBe("2027-01-01T07:00:00.000Z");
  });

  it("handles a 30-minute change: Lord Howe Island's gap and repeated half hour", () => {
    const lordHowe = "Australia/Lord_Howe";
    // 02:00 +10:30 becomes 02:30 +11: 02:15 moves to 02:45.
    expect(iso(instantOf(lordHowe, wall(2027, 10, 3, 2, 15)))).toBe("2027-10-02T15:45:00.000Z");
    // 02:00 +11 becomes 01:30 +10:30: 01:45 happens twice, the first at +11.
    expect(iso(instantOf(lordHowe, wall(2027, 4, 4, 1, 45)))).toBe("2027-04-03T14:45:00.000Z");
  });

  it("knows the hour after a gap is also where the gap's times were moved", () => {
    expect(wallClockIsUnique(BERLIN, Date.parse("2027-03-28T01:30:00Z"))).toBe(false);
    expect(wallClockIsUnique(BERLIN, Date.parse("2027-03-28T02:30:00Z"))).toBe(true);
    expect(wallClockIsUnique(BERLIN, Date.parse("2027-10-31T01:30:00Z"))).toBe(true);
    expect(wallClockIsUnique("UTC", Date.parse("2027-03-28T01:30:00Z"))).toBe(true);
  });
});

describe("rules in a time zone", () => {
  const starts = (rule: string, first: number, n: number, zone: string) =>
    occurrenceStarts(rule, first, (_s, i) => i < n, undefined, zone).map(iso);

  it("keeps 18:00 local across Berlin's changes: 17:00Z in winter, 16:00Z in summer", () => {
    const first = Date.parse("2027-03-26T17:00:00Z");
    expect(starts("FREQ=DAILY", first, 4, BERLIN)).toEqual([
      "2027-03-26T17:00:00.000Z",
      "2027-03-27T17:00:00.000Z",
      "2027-03-28T16:00:00.000Z",
      "2027-03-29T16:00:00.000Z",
    ]);
  });

  it("gives one run, not two, where a gap moves an hourly occurrence onto the next", () => {
    const first = Date.parse("2027-03-27T23:00:00Z"); // 00:00 CET
    expect(starts("FREQ=HOURLY", first, 4, BERLIN)).toEqual([
      "2027-03-27T23:00:00.000Z", // 00:00 CET
      "2027-03-28T00:00:00.000Z", // 01:00 CET
      "2027-03-28T01:00:00.000Z", // 02:00 (nonexistent) and 03:00 CEST
      "2027-03-28T02:00:00.000Z", // 04:00 CEST
    ]);
  });

  it("counts COUNT in runs, and bounds by an UNTIL in UTC as an instant", () => {
    const first = Date.parse("2027-03-27T23:00:00Z");
    expect(starts("FREQ=HOURLY;COUNT=4", first, 100, BERLIN)).toHaveLength(4);
    const until = starts("FREQ=DAILY;UNTIL=20270328T160000Z", Date.parse("2027-03-26T17:00:00Z"), 100, BERLIN);
    expect(until).toEqual(["2027-03-26T17:00:00.000Z", "2027-03-27T17:00:00.000Z", "2027-03-28T16:00:00.000Z"]);
  });

  it("reads BYHOUR in local time", () => {
    const start = Date.parse("2027-01-02T17:00:00Z"); // Saturday 18:00 CET
    expect(partsOk("FREQ=WEEKLY;BYDAY=SA;BYHOUR=18", start, BERLIN)).toEqual([]);
    expect(partsOk("FREQ=WEEKLY;BYDAY=SA;BYHOUR=17", start, BERLIN)).toEqual(["e.start_time"]);
  });

  it("finds a 23-hour local day in the overlap check: a 24-hour run every day overlaps in spring", () => {
    const first = Date.parse("2027-03-20T17:00:00Z");
    const check = (timeZone?: string) =>
      checkRecurrence({ rule: "FREQ=DAILY", runDurationMs: 24 * HOUR, timeZone }, first, undefined, "e");
    expect(check()).toEqual([]);
    expect(check(BERLIN)).toEqual([
      expect.objectContaining({ field: "e.recurrence.run_duration", reason: "RUNS_OVERLAP" }),
    ]);
  });

  const zones = [BERLIN, "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "Asia/Kolkata"];
  const rules = [
    "FREQ=DAILY;BYHOUR=2;BYMINUTE=30",
    "FREQ=HOURLY;INTERVAL=5",
    "FREQ=MINUTELY;INTERVAL=45",
    "FREQ=WEEKLY;BYDAY=SA,SU;BYHOUR=1,2,3",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;BYHOUR=2",
  ];
  const firstOf = (rule: string, zone: string) =>
    occurrenceStarts(rule, Date.UTC(2027, 0, 1), (_s, i) => i < 1, undefined, zone)[0] as number;

  it("yields instants in order, each once, in every zone", () => {
    for (const zone of zones) {
      for (const rule of rules) {
        const all = occurrenceStarts(rule, firstOf(rule, zone), (_s, i) => i < 2000, undefined, zone);
        for (let i = 1; i < all.length; i++) expect(all[i] as number).toBeGreaterThan(all[i - 1] as number);
      }
    }
  });

  it("plans the runs after any run, the hour after a gap included, as a walk from the first start would", () => {
    const plan = (
      rule: string,
      zone: string,
      from: { runNumber: number; startTime: number } | undefined,
      n: number,
      startTime = firstOf(rule, zone),
    ) =>
      planRuns({
        recurrence: { rule, runDurationMs: 60_000, timeZone: zone },
        startTime,
        endLimit: undefined,
        from,
        continueFrom: from !== undefined,
        policy: { kind: "window", from: Number.NEGATIVE_INFINITY, to: Number.POSITIVE_INFINITY, wanted: n },
      }).map((run) => [run.runNumber, iso(run.startTime)]);
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.constantFrom(...rules),
        fc.integer({ min: 1, max: 400 }),
        (zone, rule, k) => {
          const whole = plan(rule, zone, undefined, k + 10);
          const [runNumber, start] = whole[k - 1] as [number, string];
          expect(plan(rule, zone, { runNumber, startTime: Date.parse(start) }, 10)).toEqual(whole.slice(k, k + 10));
        },
      ),
      { numRuns: 80 },
    );
    // The gap-moved 02:30 (03:30 CEST) of a daily rule that starts at 02:30: a walk from there would go on at 03:30
    // (rrule takes the time of day from where it starts), so the plan walks from the first start.
    const first = Date.parse("2027-03-01T01:30:00Z");
    const whole = plan("FREQ=DAILY", BERLIN, undefined, 40, first);
    const k = whole.findIndex(([, start]) => start === "2027-03-28T01:30:00.000Z");
    const [runNumber, start] = whole[k] as [number, string];
    expect(plan("FREQ=DAILY", BERLIN, { runNumber, startTime: Date.parse(start) }, 2, first)).toEqual([
      [runNumber + 1, "2027-03-29T00:30:00.000Z"],
      [runNumber + 2, "2027-03-30T00:30:00.000Z"],
    ]);
  });

  it("replays a walk's occurrences and walks on to the same sequence as one walk", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.constantFrom(...rules),
        fc.option(fc.integer({ min: 3, max: 400 })),
        fc.integer({ min: 1, max: 300 }),
        (zone, base, count, firstWalk) => {
          const rule = count === null ? base : `${base};COUNT=${count}`;
          const first = firstOf(base, zone);
          const fresh = occurrenceStarts(rule, first, (_s, i) => i < 400, undefined, zone);
          const memo: WalkMemo = new Map();
          occurrenceStarts(rule, first, (_s, i) => i < firstWalk, memo, zone);
          expect(occurrenceStarts(rule, first, (_s, i) => i < 400, memo, zone)).toEqual(fresh);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("the rule's text", () => {
  it("points a TZID at time_zone", () => {
    const parsed = parseRule("FREQ=DAILY;TZID=Europe/Berlin");
    expect("error" in parsed && parsed.error).toContain("recurrence.time_zone");
  });
});

function partsOk(rule: string, start: number, timeZone: string): string[] {
  return checkRecurrence({ rule, runDurationMs: HOUR, timeZone }, start, undefined, "e").map((v) => v.field);
}
