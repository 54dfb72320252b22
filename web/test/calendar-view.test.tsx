// @vitest-environment happy-dom
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type EventRun, EventRunSchema, EventSchema, EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { EventService, type ListEventRunsRequest } from "../../gen/liveops/v1/event_service_pb.js";
import { CalendarView, visibleDays } from "../src/calendar-view.js";
import { renderWithServer } from "./render-with-server.js";

afterEach(cleanup);
beforeEach(() => window.history.replaceState(null, "", "#/calendar?date=2026-06-10"));

/** A local time (the viewer's zone) on a day of June 2026. */
const june = (day: number, hour = 0) => new Date(2026, 5, day, hour);

const cup = create(EventSchema, { id: "e-cup", title: "Summer Cup", status: EventStatus.UPCOMING });
const weekly = create(EventSchema, {
  id: "e-weekly",
  title: "Weekly Tournament",
  status: EventStatus.ACTIVE,
  recurrence: { rule: "FREQ=WEEKLY" },
  currentRun: { eventId: "e-weekly", runNumber: 3n },
});
const run = (eventId: string, runNumber: number, start: Date, end: Date) =>
  create(EventRunSchema, {
    eventId,
    runNumber: BigInt(runNumber),
    startTime: timestampFromDate(start),
    endTime: timestampFromDate(end),
  });

/** Renders the calendar over `runs` (split in pages of `pageSize`), recording the ListEventRuns requests. */
function renderCalendar(runs: EventRun[], pageSize = 500) {
  const requests: ListEventRunsRequest[] = [];
  renderWithServer(<CalendarView />, (router) =>
    router.service(EventService, {
      listEventRuns(req) {
        requests.push(req);
        const from = Number(req.pageToken || "0");
        const page = runs.slice(from, from + pageSize);
        return { runs: page, nextPageToken: from + pageSize < runs.length ? String(from + pageSize) : "" };
      },
      listEvents: () => ({ events: [weekly] }),
      getEvent(req) {
        if (req.id === cup.id) return { event: cup };
        throw new ConnectError("not found", Code.NotFound);
      },
    }),
  );
  return requests;
}

/** The runs shown, as "title@day". */
const shown = () =>
  [...document.querySelectorAll(".calendar-day")].flatMap((day) =>
    [...day.querySelectorAll(".run-title")].map(
      (title) => `${title.textContent}@${day.querySelector("time")?.getAttribute("datetime")}`,
    ),
  );

describe("the calendar", () => {
  it("shows whole weeks, Monday first, around a month", () => {
    const days = visibleDays("month", june(10));
    expect(days[0]).toEqual(june(1));
    expect(days.at(-1)).toEqual(new Date(2026, 6, 5));
    expect(days).toHaveLength(35);
    expect(visibleDays("week", june(10)).map((d) => d.getDate())).toEqual([8, 9, 10, 11, 12, 13, 14]);
  });

  it("asks for every event's runs over the days it shows, page after page", async () => {
    const requests = renderCalendar(
      [run("e-cup", 1, june(2, 10), june(2, 12)), run("e-weekly", 3, june(8, 18), june(8, 20))],
      1,
    );
    await waitFor(() => expect(shown()).toEqual(["Summer Cup@2026-06-02", "Weekly Tournament@2026-06-08"]));
    expect(requests.map((r) => r.eventId)).toEqual(["", ""]);
    expect(requests.map((r) => r.pageToken)).toEqual(["", "1"]);
    const first = requests[0] as ListEventRunsRequest;
    expect(first.startTime && timestampDate(first.startTime)).toEqual(june(1));
    expect(first.endTime && timestampDate(first.endTime)).toEqual(new Date(2026, 6, 6));
  });

  it("puts a run on every day it overlaps, and links it to its event's page", async () => {
    renderCalendar([run("e-cup", 1, june(2, 22), june(4, 2))]);
    await waitFor(() =>
      expect(shown()).toEqual(["Summer Cup@2026-06-02", "Summer Cup@2026-06-03", "Summer Cup@2026-06-04"]),
    );
    const links = screen.getAllByRole("link");
    expect(links.map((link) => link.getAttribute("href"))).toEqual(Array(3).fill("#/events/e-cup"));
    expect(links.map((link) => link.querySelector(".run-time")?.textContent)).toEqual([
      new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" }).format(june(2, 22)),
      "all day",
      `until ${new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" }).format(june(4, 2))}`,
    ]);
  });

  it("highlights the live run of an event and says it is live, not its other runs", async () => {
    renderCalendar([run("e-weekly", 2, june(1, 18), june(1, 20)), run("e-weekly", 3, june(8, 18), june(8, 20))]);
    await waitFor(() => expect(shown()).toHaveLength(2));
    const live = [...document.querySelectorAll("a.calendar-run.live")];
    expect(live.map((link) => link.getAttribute("data-run-number"))).toEqual(["3"]);
    expect(live[0]?.textContent).toContain("Live");
    expect(live[0]?.textContent).toContain("(run 3)");
  });

  it("names the viewer's time zone", async () => {
    renderCalendar([]);
    await screen.findByText("No runs this month.");
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    expect(screen.getByText(new RegExp(`^Times in ${zone.replace("+", "\\+")}`))).toBeTruthy();
  });

  it("moves by month or by week, keeping the view and the day in the URL", async () => {
    const requests = renderCalendar([]);
    await screen.findByText("No runs this month.");
    fireEvent.click(screen.getByRole("button", { name: "Next month" }));
    expect(window.location.hash).toBe("#/calendar?date=2026-07-01");
    fireEvent.click(screen.getByRole("button", { name: "Week" }));
    expect(window.location.hash).toBe("#/calendar?view=week&date=2026-07-01");
    fireEvent.click(screen.getByRole("button", { name: "Previous week" }));
    expect(window.location.hash).toBe("#/calendar?view=week&date=2026-06-24");
    await screen.findByText("No runs this week.");
    const last = requests.at(-1) as ListEventRunsRequest;
    expect(last.startTime && timestampDate(last.startTime)).toEqual(june(22));
    expect(last.endTime && timestampDate(last.endTime)).toEqual(june(29));
  });
});
