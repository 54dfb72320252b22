import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkRecurrence, occurrenceStarts, parseRule, type WalkMemo } from "../src/events/recurrence.js";
import { planRuns } from "../src/events/run-planning.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();
/** The first `n` starts of `rule` from `first`. */
const firstStarts = (rule: string, first: number, n: number) =>
  occurrenceStarts(rule, first, (_start, i) => i < n).map(iso);

describe("recurrence rules", () => {
  it("expands a weekly rule: every Saturday at 18:00 UTC", () => {
    const saturday = Date.UTC(2026, 5, 6, 18);
    expect(firstStarts("FREQ=WEEKLY;BYDAY=SA;BYHOUR=18", saturday, 3)).toEqual([
      "2026-06-06T18:00:00.000Z",
      "2026-06-13T18:00:00.000Z",
      "2026-06-20T18:00:00.000Z",
    ]);
  });

  it("expands a monthly rule by weekday: the first weekend of each month", () => {
    const rule = "FREQ=MONTHLY;BYDAY=1SA,1SU;BYHOUR=10;BYMINUTE=0;BYSECOND=0";
    expect(firstStarts(rule, Date.UTC(2026, 5, 6, 10), 5)).toEqual([
      "2026-06-06T10:00:00.000Z",
      "2026-06-07T10:00:00.000Z",
      "2026-07-04T10:00:00.000Z",
      "2026-07-05T10:00:00.000Z",
      "2026-08-01T10:00:00.000Z",
    ]);
  });

  it("ends with COUNT or UNTIL (inclusive)", () => {
    const start = Date.UTC(2026, 0, 1, 12);
    expect(firstStarts("FREQ=DAILY;COUNT=3", start, 100)).toHaveLength(3);
    expect(firstStarts("FREQ=DAILY;UNTIL=20260104T120000Z", start, 100)).toEqual([
      "2026-01-01T12:00:00.000Z",
      "2026-01-02T12:00:00.000Z",
      "2026-01-03T12:00:00.000Z",
      "2026-01-04T12:00:00.000Z",
    ]);
  });

  it("is UTC without daylight saving time: 18:00 UTC on both sides of the European and US switches", () => {
    const starts = firstStarts("FREQ=DAILY;BYHOUR=18", Date.UTC(2026, 2, 6, 18), 240);
    expect(new Set(starts.map((s) => s.slice(11)))).toEqual(new Set(["18:00:00.000Z"]));
    expect(starts).toContain("2026-03-08T18:00:00.000Z"); // US switch
    expect(starts).toContain("2026-03-29T18:00:00.000Z"); // EU switch
    expect(starts).toContain("2026-10-25T18:00:00.000Z");
  });

  it("repeats to the second, so a recurring event starts on a whole second", () => {
    const violations = checkRecurrence(
      { rule: "FREQ=HOURLY", runDurationMs: HOUR / 2 },
      Date.UTC(2026, 0, 1, 0, 0, 0, 250),
      undefined,
      "e",
    );
    expect(violations).toEqual([expect.objectContaining({ field: "e.start_time", reason: "NOT_WHOLE_SECOND" })]);
  });

  it.each([
    ["", "is required"],
    ["FREQ=BOGUS", "FREQ=BOGUS is not a valid value"],
    ["BYDAY=SA", "FREQ is required"],
    ["FREQ=WEEKLY;BYDAY=XX", "BYDAY=XX is not a valid value"],
    ["FREQ=DAILY;BYHOUR=24", "BYHOUR=24: 24 is out of range"],
    ["FREQ=DAILY;COUNT=3;UNTIL=20270101T000000Z", "COUNT and UNTIL cannot both be given"],
    ["FREQ=DAILY;FREQ=WEEKLY", "FREQ is given twice"],
    ["FREQ=DAILY;TZID=Europe/Paris", "TZID is not a supported rule part"],
    ["FREQ=SECONDLY", "FREQ=SECONDLY is not a valid value"],
    ["FREQ=DAILY;UNTIL=20270101T000000", "UNTIL=20270101T000000 is not a valid value"],
    ["DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY", "give the first start as start_time"],
    ["FREQ=DAILY;;", "is not of the form NAME=VALUE"],
  ])("refuses %j", (rule, message) => {
    const parsed = parseRule(rule);
    expect("error" in parsed && parsed.error).toContain(message);
  });

  it("accepts the RRULE: prefix and lower case, normalized", () => {
    expect(parseRule("rrule:freq=weekly;byday=sa")).toEqual({ rule: "FREQ=WEEKLY;BYDAY=SA" });
  });

  it("sorts and dedupes the values of a part, whose order rrule would otherwise follow", () => {
    expect(parseRule("FREQ=DAILY;BYHOUR=18,6,6;BYMINUTE=30,0")).toEqual({
      rule: "FREQ=DAILY;BYHOUR=6,18;BYMINUTE=0,30",
    });
  });

  it("continues from any occurrence with the same sequence as from the first start", () => {
    const rules = [
      "FREQ=WEEKLY;BYDAY=SA;BYHOUR=18",
      "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR",
      "FREQ=MONTHLY;BYDAY=1SA,1SU",
      "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
      "FREQ=MONTHLY;BYMONTHDAY=-1",
      "FREQ=DAILY;INTERVAL=3;BYHOUR=9,21",
      "FREQ=HOURLY;INTERVAL=5",
      "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
      "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
    ];
    fc.assert(
      fc.property(fc.constantFrom(...rules), fc.integer({ min: 1, max: 30 }), (rule, k) => {
        const first = occurrenceStarts(rule, Date.UTC(2026, 0, 1), (_s, i) => i < 1)[0] as number;
        const whole = occurrenceStarts(rule, first, (_s, i) => i < k + 10);
        const continued = occurrenceStarts(rule, whole[k] as number, (_s, i) => i < 10);
        expect(continued).toEqual(whole.slice(k, k + 10));
      }),
      { numRuns: 60 },
    );
  });

  // rrule computes BYSETPOS over a walk's first week from its first day, and BYWEEKNO's sets by year: a walk started
  // at an occurrence mid-period may pick other occurrences, so those rules are walked from their first start.
  const tricky = [
    "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYSETPOS=1,2",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH,SA;BYSETPOS=-1",
    "FREQ=YEARLY;BYWEEKNO=1,52,53;BYDAY=MO,SU;BYSETPOS=-1",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=DAILY;INTERVAL=3;BYHOUR=9,21",
    "FREQ=WEEKLY;BYDAY=SA;BYHOUR=18",
  ];
  const firstOf = (rule: string) => occurrenceStarts(rule, Date.UTC(2026, 0, 1), (_s, i) => i < 1)[0] as number;

  it("plans the runs after any run as a walk from the first start would, BYSETPOS and BYWEEKNO included", () => {
    const plan = (rule: string, from: { runNumber: number; startTime: number } | undefined, wanted: number) =>
      planRuns({
        recurrence: { rule, runDurationMs: 60_000 },
        startTime: firstOf(rule),
        endLimit: undefined,
        from,
        continueFrom: from !== undefined,
        policy: { kind: "window", from: Number.NEGATIVE_INFINITY, to: Number.POSITIVE_INFINITY, wanted },
      }).map((run) => [run.runNumber, iso(run.startTime)]);
    fc.assert(
      fc.property(fc.constantFrom(...tricky), fc.integer({ min: 1, max: 30 }), (rule, k) => {
        const whole = plan(rule, undefined, k + 10);
        const [runNumber, start] = whole[k - 1] as [number, string];
        expect(plan(rule, { runNumber, startTime: Date.parse(start) }, 10)).toEqual(whole.slice(k, k + 10));
      }),
      { numRuns: 60 },
    );
  });

  it("replays a walk's occurrences and walks on to the same sequence as one walk, COUNT included", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...tricky),
        fc.option(fc.integer({ min: 3, max: 40 })),
        fc.integer({ min: 1, max: 20 }),
        (base, count, firstWalk) => {
          const rule = count === null ? base : `${base};COUNT=${count}`;
          const first = firstOf(base);
          const fresh = occurrenceStarts(rule, first, (_s, i) => i < 40);
          const memo: WalkMemo = new Map();
          occurrenceStarts(rule, first, (_s, i) => i < firstWalk, memo);
          expect(occurrenceStarts(rule, first, (_s, i) => i < 40, memo)).toEqual(fresh);
        },
      ),
      { numRuns: 80 },
    );
  });
});

describe("recurring schedules", () => {
  const saturday = Date.UTC(2026, 5, 6, 18);
  const fields = (violations: { field: string }[]) => violations.map((v) => v.field);

  it("accepts a weekly two-hour run", () => {
    expect(
      checkRecurrence({ rule: "FREQ=WEEKLY;BYDAY=SA", runDurationMs: 2 * HOUR }, saturday, undefined, "e"),
    ).toEqual([]);
  });

  it("requires start_time to be the first occurrence", () => {
    const violations = checkRecurrence({ rule: "FREQ=WEEKLY;BYDAY=SU", runDurationMs: HOUR }, saturday, undefined, "e");
    expect(fields(violations)).toEqual(["e.start_time"]);
    expect(violations[0]).toMatchObject({ reason: "NOT_AN_OCCURRENCE" });
  });

  it("refuses zero, negative and over-long durations", () => {
    for (const runDurationMs of [0, -HOUR, 367 * DAY]) {
      const violations = checkRecurrence({ rule: "FREQ=YEARLY", runDurationMs }, saturday, undefined, "e");
      expect(fields(violations)).toEqual(["e.recurrence.run_duration"]);
    }
  });

  it("refuses runs that overlap, also where the gaps of a rule differ", () => {
    const daily = checkRecurrence({ rule: "FREQ=DAILY", runDurationMs: DAY + 1 }, saturday, undefined, "e");
    expect(daily).toEqual([expect.objectContaining({ field: "e.recurrence.run_duration", reason: "RUNS_OVERLAP" })]);
    // Last and first day of each month: one day apart at month ends, ~4 weeks otherwise.
    const edges = checkRecurrence(
      { rule: "FREQ=MONTHLY;BYMONTHDAY=1,-1", runDurationMs: 2 * DAY },
      Date.UTC(2026, 5, 1, 18),
      undefined,
      "e",
    );
    expect(fields(edges)).toEqual(["e.recurrence.run_duration"]);
  });

  it("refuses a bounded series with more runs than can be planned, not an open-ended one", () => {
    const rule = { rule: "FREQ=HOURLY", runDurationMs: HOUR / 2 };
    expect(checkRecurrence(rule, saturday, undefined, "e")).toEqual([]);
    expect(checkRecurrence({ ...rule, rule: "FREQ=HOURLY;COUNT=6000" }, saturday, undefined, "e")).toEqual([
      expect.objectContaining({ field: "e.recurrence.rule", reason: "TOO_MANY_RUNS" }),
    ]);
    expect(fields(checkRecurrence(rule, saturday, saturday + 365 * DAY, "e"))).toEqual(["e.recurrence.rule"]);
  });

  it("names an invalid rule", () => {
    expect(checkRecurrence({ rule: "FREQ=NEVER", runDurationMs: HOUR }, saturday, undefined, "e")).toEqual([
      expect.objectContaining({ field: "e.recurrence.rule", reason: "INVALID_RULE" }),
    ]);
  });
});
