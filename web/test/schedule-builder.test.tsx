// @vitest-environment happy-dom
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { occurrenceStarts } from "../../src/events/recurrence.js";
import { newSchedule, ruleOf, type Schedule, scheduleFields, scheduleOf } from "../src/schedule.js";
import { ScheduleBuilder, type ScheduleLocks } from "../src/schedule-builder.js";
import { describeSchedule, previewSchedule } from "../src/schedule-words.js";

afterEach(cleanup);

const NOW = Date.UTC(2027, 0, 1);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** A repeating schedule in `zone`: weekly on Sunday at 18:00 for two hours from 2027-03-01, unless told otherwise. */
function repeating(patch: Partial<Schedule> = {}, zone = "Europe/Berlin"): Schedule {
  return {
    ...newSchedule(zone, NOW),
    repeats: true,
    startDate: "2027-03-01",
    startTime: "18:00",
    frequency: "WEEKLY",
    weekdays: ["SU"],
    ...patch,
  };
}

/** The schedule an event with this recurrence reads back as. */
function readBack(rule: string, start: string, zone = "Europe/Berlin", runDurationSeconds = 7200) {
  return scheduleOf(
    { startMs: Date.parse(start), recurrence: { rule, runDurationSeconds, timeZone: zone } },
    "UTC",
    NOW,
  );
}

describe("the rule the pickers make", () => {
  it("is daily at the time of day", () => {
    expect(ruleOf(repeating({ frequency: "DAILY" }))).toBe("FREQ=DAILY;BYHOUR=18;BYMINUTE=0");
  });

  it("is every other day with an interval", () => {
    expect(ruleOf(repeating({ frequency: "DAILY", interval: "2", startTime: "07:45" }))).toBe(
      "FREQ=DAILY;INTERVAL=2;BYHOUR=7;BYMINUTE=45",
    );
  });

  it("is weekly on the picked weekdays, in the week's order", () => {
    expect(ruleOf(repeating({ weekdays: ["SU", "MO", "WE"] }))).toBe("FREQ=WEEKLY;BYDAY=MO,WE,SU;BYHOUR=18;BYMINUTE=0");
  });

  it("is monthly on a day of the month, or its last day", () => {
    expect(ruleOf(repeating({ frequency: "MONTHLY", monthly: "day", monthDay: "15" }))).toBe(
      "FREQ=MONTHLY;BYMONTHDAY=15;BYHOUR=18;BYMINUTE=0",
    );
    expect(ruleOf(repeating({ frequency: "MONTHLY", monthly: "day", monthDay: "-1" }))).toBe(
      "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=18;BYMINUTE=0",
    );
  });

  it("is monthly on the nth or the last weekday", () => {
    const nth = (n: string) => repeating({ frequency: "MONTHLY", monthly: "weekday", nth: n, nthWeekday: "SU" });
    expect(ruleOf(nth("2"))).toBe("FREQ=MONTHLY;BYDAY=2SU;BYHOUR=18;BYMINUTE=0");
    expect(ruleOf(nth("-1"))).toBe("FREQ=MONTHLY;BYDAY=-1SU;BYHOUR=18;BYMINUTE=0");
  });

  it("ends after a number of runs with COUNT", () => {
    expect(ruleOf(repeating({ ends: "count", count: "10" }))).toBe(
      "FREQ=WEEKLY;BYDAY=SU;BYHOUR=18;BYMINUTE=0;COUNT=10",
    );
  });

  it("ends on a date with UNTIL at the end of that day in the schedule's zone", () => {
    expect(ruleOf(repeating({ ends: "until", untilDate: "2027-12-31" }))).toBe(
      "FREQ=WEEKLY;BYDAY=SU;BYHOUR=18;BYMINUTE=0;UNTIL=20271231T225959Z",
    );
    expect(ruleOf(repeating({ ends: "until", untilDate: "2027-07-31" }, "America/New_York"))).toMatch(
      /;UNTIL=20270801T035959Z$/,
    );
  });

  it("keeps an advanced rule as typed, without its RRULE: prefix", () => {
    expect(ruleOf(repeating({ frequency: "CUSTOM", customRule: " RRULE:FREQ=YEARLY;BYMONTH=3 " }))).toBe(
      "FREQ=YEARLY;BYMONTH=3",
    );
  });
});

describe("the fields a schedule gives the event", () => {
  it("start at the first run on or after the first date, as an instant of the zone's wall clock", () => {
    const fields = scheduleFields(repeating({ durationHours: "2", durationMinutes: "30" }));
    expect(iso(fields.startMs)).toBe("2027-03-07T17:00:00.000Z");
    expect(fields.endMs).toBeUndefined();
    expect(fields.recurrence).toEqual({
      rule: "FREQ=WEEKLY;BYDAY=SU;BYHOUR=18;BYMINUTE=0",
      runDurationSeconds: 9000,
      timeZone: "Europe/Berlin",
    });
  });

  it("read a summer wall clock with the summer offset", () => {
    expect(iso(scheduleFields(repeating({ startDate: "2027-07-01" })).startMs)).toBe("2027-07-04T16:00:00.000Z");
  });

  it("are a start and an end without recurrence for a one-off event", () => {
    const once: Schedule = {
      ...newSchedule("America/New_York", NOW),
      startDate: "2027-03-13",
      startTime: "20:00",
      endDate: "2027-03-14",
      endTime: "20:00",
    };
    const fields = scheduleFields(once);
    expect([iso(fields.startMs), iso(fields.endMs), fields.recurrence]).toEqual([
      "2027-03-14T01:00:00.000Z",
      "2027-03-15T00:00:00.000Z",
      undefined,
    ]);
  });
});

describe("reading an event's rule back into the pickers", () => {
  it("shows a weekly rule as its weekdays, time of day and number of runs", () => {
    const s = readBack("FREQ=WEEKLY;BYDAY=SU;BYHOUR=18;BYMINUTE=0;COUNT=10", "2027-03-07T17:00:00Z");
    expect(s).toMatchObject({
      repeats: true,
      zone: "Europe/Berlin",
      frequency: "WEEKLY",
      weekdays: ["SU"],
      startDate: "2027-03-07",
      startTime: "18:00",
      durationHours: "2",
      ends: "count",
      count: "10",
    });
  });

  it.each([
    ["FREQ=DAILY;INTERVAL=3;BYHOUR=18;BYMINUTE=0", "2027-03-07T17:00:00Z"],
    ["FREQ=WEEKLY;BYDAY=MO,SU;BYHOUR=18;BYMINUTE=0;UNTIL=20271231T225959Z", "2027-03-07T17:00:00Z"],
    ["FREQ=MONTHLY;BYMONTHDAY=7;BYHOUR=18;BYMINUTE=0", "2027-03-07T17:00:00Z"],
    ["FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=18;BYMINUTE=0", "2027-03-31T16:00:00Z"],
    ["FREQ=MONTHLY;BYDAY=1SU;BYHOUR=18;BYMINUTE=0;COUNT=3", "2027-03-07T17:00:00Z"],
    ["FREQ=MONTHLY;BYDAY=-1WE;BYHOUR=18;BYMINUTE=0", "2027-03-31T16:00:00Z"],
  ])("gives back the same rule: %s", (rule, start) => {
    const s = readBack(rule, start);
    expect(s.frequency).not.toBe("CUSTOM");
    expect(ruleOf(s)).toBe(rule);
    expect(iso(scheduleFields(s).startMs)).toBe(new Date(start).toISOString());
  });

  it("reads the nth weekday written with BYSETPOS", () => {
    const s = readBack("FREQ=MONTHLY;BYDAY=SU;BYSETPOS=2;BYHOUR=18;BYMINUTE=0", "2027-03-14T17:00:00Z");
    expect(s).toMatchObject({ frequency: "MONTHLY", monthly: "weekday", nth: "2", nthWeekday: "SU" });
  });

  it("reads a rule without BYHOUR at its start's time of day", () => {
    const s = readBack("FREQ=WEEKLY;BYDAY=SU", "2027-03-07T17:00:00Z");
    expect([s.frequency, s.startTime, ruleOf(s)]).toEqual([
      "WEEKLY",
      "18:00",
      "FREQ=WEEKLY;BYDAY=SU;BYHOUR=18;BYMINUTE=0",
    ]);
  });

  it.each([
    "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU;BYHOUR=18;BYMINUTE=0",
    "FREQ=HOURLY;INTERVAL=6",
    "FREQ=WEEKLY;BYDAY=SU;BYHOUR=18,20;BYMINUTE=0",
    "FREQ=WEEKLY;BYDAY=SU;BYHOUR=18;BYMINUTE=0;UNTIL=20271231T120000Z",
  ])("keeps a rule the pickers cannot show as an advanced rule: %s", (rule) => {
    const s = readBack(rule, "2027-03-28T16:00:00Z");
    expect([s.frequency, s.customRule, ruleOf(s)]).toEqual(["CUSTOM", rule, rule]);
  });

  it("reads a schedule without a zone as UTC", () => {
    const s = readBack("FREQ=DAILY;BYHOUR=18;BYMINUTE=0", "2027-03-07T18:00:00Z", "");
    expect([s.zone, s.startTime]).toEqual(["UTC", "18:00"]);
  });
});

describe("the schedule in words", () => {
  it("says the days, the time and its zone, the duration and the end", () => {
    expect(describeSchedule(repeating({ ends: "count", count: "10" }))).toBe(
      "Every Sunday at 18:00 (Europe/Berlin), for 2 hours, 10 runs",
    );
  });

  it.each<[Partial<Schedule>, string]>([
    [
      { frequency: "DAILY", durationHours: "1", durationMinutes: "30" },
      "Every day at 18:00 (Europe/Berlin), for 1 hour 30 minutes, with no end",
    ],
    [
      { weekdays: ["FR", "MO", "WE"], interval: "2" },
      "Every 2 weeks on Monday, Wednesday and Friday at 18:00 (Europe/Berlin), for 2 hours, with no end",
    ],
    [
      { frequency: "MONTHLY", monthly: "weekday", nth: "2", nthWeekday: "SU" },
      "Every month on the second Sunday at 18:00 (Europe/Berlin), for 2 hours, with no end",
    ],
    [
      { frequency: "MONTHLY", monthly: "day", monthDay: "-1", durationDays: "3", durationHours: "0" },
      "Every month on the last day at 18:00 (Europe/Berlin), for 3 days, with no end",
    ],
    [
      { ends: "until", untilDate: "2027-12-31" },
      "Every Sunday at 18:00 (Europe/Berlin), for 2 hours, until Fri, 31 Dec 2027",
    ],
  ])("%o reads “%s”", (patch, words) => {
    expect(describeSchedule(repeating(patch))).toBe(words);
  });

  it("says when a one-off event starts and ends, in its zone", () => {
    const once = { ...newSchedule("Europe/Berlin", NOW), startDate: "2027-03-28", endDate: "2027-03-28" };
    expect(describeSchedule(once)).toBe(
      "Once, from Sun, 28 Mar 2027, 18:00 to Sun, 28 Mar 2027, 20:00 (Europe/Berlin)",
    );
  });
});

describe("the preview of the next runs", () => {
  it("stays at 18:00 in Europe/Berlin across the change to summer time (17:00Z, then 16:00Z)", () => {
    const preview = previewSchedule(repeating({ startDate: "2027-03-14" }), "Europe/Berlin");
    expect(preview.runs.map((r) => iso(r.start))).toEqual([
      "2027-03-14T17:00:00.000Z",
      "2027-03-21T17:00:00.000Z",
      "2027-03-28T16:00:00.000Z",
      "2027-04-04T16:00:00.000Z",
      "2027-04-11T16:00:00.000Z",
    ]);
    expect(preview.runs.map((r) => r.inZone)).toContain("Sun, 28 Mar 2027, 18:00–20:00 Europe/Berlin");
    expect(preview.runs.every((r) => r.inZone.includes("18:00–20:00 Europe/Berlin"))).toBe(true);
    expect(preview.runs.every((r) => r.inViewerZone === undefined)).toBe(true);
  });

  it("shows each run also in the viewer's zone when it is another one", () => {
    const preview = previewSchedule(repeating({ startDate: "2027-03-21" }), "UTC", 2);
    expect(preview.runs.map((r) => [r.inZone, r.inViewerZone])).toEqual([
      ["Sun, 21 Mar 2027, 18:00–20:00 Europe/Berlin", "Sun, 21 Mar 2027, 17:00–19:00 UTC"],
      ["Sun, 28 Mar 2027, 18:00–20:00 Europe/Berlin", "Sun, 28 Mar 2027, 16:00–18:00 UTC"],
    ]);
  });

  it("stays at 09:00 in America/New_York across both changes of 2027", () => {
    const daily = (startDate: string) =>
      previewSchedule(repeating({ frequency: "DAILY", startDate, startTime: "09:00" }, "America/New_York"), "UTC", 3);
    expect(daily("2027-03-13").runs.map((r) => iso(r.start))).toEqual([
      "2027-03-13T14:00:00.000Z",
      "2027-03-14T13:00:00.000Z",
      "2027-03-15T13:00:00.000Z",
    ]);
    expect(daily("2027-11-06").runs.map((r) => iso(r.start))).toEqual([
      "2027-11-06T13:00:00.000Z",
      "2027-11-07T14:00:00.000Z",
      "2027-11-08T14:00:00.000Z",
    ]);
  });

  it("moves a run whose time of day does not exist (in the gap) forward by the gap, and says so", () => {
    const preview = previewSchedule(
      repeating({ frequency: "DAILY", startDate: "2027-03-27", startTime: "02:30" }),
      "Europe/Berlin",
      3,
    );
    expect(preview.runs.map((r) => iso(r.start))).toEqual([
      "2027-03-27T01:30:00.000Z",
      "2027-03-28T01:30:00.000Z",
      "2027-03-29T00:30:00.000Z",
    ]);
    expect(preview.runs[1]?.inZone).toBe("Sun, 28 Mar 2027, 03:30–05:30 Europe/Berlin");
    expect(preview.runs[1]?.note).toBe(
      "02:30 does not exist that day in Europe/Berlin (the clocks go forward): it starts at 03:30",
    );
    expect(preview.runs[0]?.note).toBeUndefined();
  });

  it("starts a series whose first date's time is in the gap on the next run, saying why", () => {
    const s = repeating({ frequency: "DAILY", startDate: "2027-03-28", startTime: "02:30" });
    expect(iso(scheduleFields(s).startMs)).toBe("2027-03-29T00:30:00.000Z");
    expect(previewSchedule(s, "Europe/Berlin").notes).toEqual([
      "02:30 does not exist on Sun, 28 Mar 2027 in Europe/Berlin (the clocks go forward), so the first run is the next one.",
    ]);
  });

  it("takes the earlier of a time that happens twice when the clocks go back", () => {
    const s = repeating({ frequency: "DAILY", startDate: "2027-10-31", startTime: "02:30" });
    expect(previewSchedule(s, "UTC", 1).runs.map((r) => iso(r.start))).toEqual(["2027-10-31T00:30:00.000Z"]);
  });

  it("ends with the series: COUNT runs, or none after the UNTIL date", () => {
    expect(previewSchedule(repeating({ startDate: "2027-03-14", ends: "count", count: "2" }), "UTC").runs).toHaveLength(
      2,
    );
    const until = repeating({ startDate: "2027-03-14", ends: "until", untilDate: "2027-03-28" });
    expect(
      previewSchedule(until, "UTC")
        .runs.map((r) => iso(r.start))
        .at(-1),
    ).toBe("2027-03-28T16:00:00.000Z");
  });

  it.each([
    ["FREQ=WEEKLY;BYDAY=SU;BYHOUR=18;BYMINUTE=0", "2027-03-14", "18:00", "Europe/Berlin"],
    ["FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "2027-03-26", "02:30", "Europe/Berlin"],
    ["FREQ=DAILY;BYHOUR=1;BYMINUTE=30;COUNT=4", "2027-11-06", "01:30", "America/New_York"],
    ["FREQ=MONTHLY;BYDAY=-1SU;BYHOUR=2;BYMINUTE=30", "2027-01-01", "02:30", "Europe/Berlin"],
  ])("gives the server's runs for %s", (rule, startDate, startTime, zone) => {
    const s = repeating({ frequency: "CUSTOM", customRule: rule, startDate, startTime }, zone);
    const first = scheduleFields(s).startMs as number;
    const server = occurrenceStarts(rule, first, (_, i) => i < 5, undefined, zone);
    expect(previewSchedule(s, "UTC").runs.map((r) => r.start)).toEqual(server);
  });

  it("is not walked in the browser for a rule with no run in ten years, and says the server checks it", () => {
    const s = repeating({ frequency: "CUSTOM", customRule: "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30" });
    expect(previewSchedule(s, "UTC").runs).toEqual([]);
    expect(previewSchedule(s, "UTC").notes[0]).toMatch(/^No preview for this rule/);
  });
});

/** The builder with its own state, as the event form holds it. */
function Builder({
  initial,
  errors = new Map(),
  locks,
}: {
  initial: Schedule;
  errors?: Map<string, string>;
  locks?: ScheduleLocks;
}) {
  const [value, setValue] = useState(initial);
  return (
    <ScheduleBuilder value={value} onChange={setValue} errors={errors} locks={locks ?? {}} viewerZone="Europe/London" />
  );
}

/** Whether an input is disabled, itself or by a disabled fieldset around it (which happy-dom does not apply). */
const disabled = (input: HTMLInputElement) => input.disabled || input.closest("fieldset[disabled]") !== null;

describe("the schedule builder", () => {
  it("names the schedule's zone and the viewer's on screen", () => {
    render(<Builder initial={repeating()} />);
    expect(screen.getByText(/Every date and time of this schedule is in/).textContent).toBe(
      " Every date and time of this schedule is in Europe/Berlin; yours is Europe/London.",
    );
    expect((screen.getByLabelText("Time zone") as HTMLSelectElement).value).toBe("Europe/Berlin");
  });

  it("builds a weekly schedule from its pickers and shows it in words and runs", () => {
    render(<Builder initial={{ ...newSchedule("Europe/Berlin", NOW), startDate: "2027-03-14", weekdays: [] }} />);
    fireEvent.click(screen.getByLabelText("Repeatedly"));
    fireEvent.change(screen.getByLabelText("Repeats", { selector: "select" }), { target: { value: "WEEKLY" } });
    fireEvent.click(screen.getByLabelText("Sunday"));
    fireEvent.click(screen.getByLabelText("Thursday"));
    fireEvent.click(screen.getByLabelText("Sunday"));
    fireEvent.change(screen.getByLabelText("Time of day"), { target: { value: "19:30" } });
    expect(screen.getByText(/^Every Thursday/).textContent?.trim()).toBe(
      "Every Thursday at 19:30 (Europe/Berlin), for 2 hours, with no end",
    );
    const runs = within(screen.getByRole("region", { name: "Next runs" })).getAllByRole("listitem");
    expect(runs[0]?.textContent).toBe(
      "Thu, 18 Mar 2027, 19:30–21:30 Europe/Berlin · Thu, 18 Mar 2027, 18:30–20:30 Europe/London (your time)",
    );
  });

  it("shows a rule it cannot represent in an editable Advanced (RRULE) field", () => {
    const rule = "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU;BYHOUR=18;BYMINUTE=0";
    render(<Builder initial={readBack(rule, "2027-03-28T16:00:00Z")} />);
    const field = screen.getByLabelText("Advanced (RRULE)") as HTMLInputElement;
    expect([field.value, field.disabled]).toEqual([rule, false]);
    fireEvent.change(field, { target: { value: "FREQ=YEARLY;BYMONTH=4;BYHOUR=18;BYMINUTE=0" } });
    expect(field.value).toBe("FREQ=YEARLY;BYMONTH=4;BYHOUR=18;BYMINUTE=0");
  });

  it("shows each error on the input it belongs to", () => {
    const errors = new Map([
      ["schedule-duration-hours", "must be longer than zero"],
      ["schedule-start-date", "is required"],
    ]);
    render(<Builder initial={repeating()} errors={errors} />);
    const startDate = screen.getByLabelText("First run on or after");
    expect(startDate.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(startDate.getAttribute("aria-describedby") ?? "")?.textContent).toBe("is required");
    const duration = screen.getByRole("group", { name: "Each run lasts" });
    expect(within(duration).getByRole("alert").textContent).toBe("must be longer than zero");
    expect(screen.getByLabelText("Time of day").getAttribute("aria-invalid")).toBeNull();
  });

  it("disables locked inputs and says why", () => {
    const reason = "Locked while the event is live: its first run has already started.";
    render(<Builder initial={repeating()} locks={{ start: reason }} />);
    expect(screen.getByText(reason)).toBeTruthy();
    for (const label of ["Time zone", "Time of day", "First run on or after", "Sunday", "Repeats"]) {
      expect(disabled(screen.getAllByLabelText(label)[0] as HTMLInputElement)).toBe(true);
    }
    expect(disabled(screen.getByLabelText("Hours") as HTMLInputElement)).toBe(false);
  });
});
