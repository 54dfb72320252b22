import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, type Timestamp, timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { type Event, type EventRun, type EventSchema, EventStatus } from "../gen/liveops/v1/event_pb.js";
import { codeOf, connectClients, type EventClients } from "./support/clients.js";
import { jsonOf } from "./support/http.js";
import { startTestServer, type TestServer } from "./support/server.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The test clock starts on Monday 2026-06-01 12:00 UTC; the first Saturday 18:00 follows. */
const SATURDAY = Date.UTC(2026, 5, 6, 18);
const WEEK = 7 * DAY;

let server: TestServer;
let client: EventClients;
beforeAll(async () => {
  server = await startTestServer();
  client = connectClients(server.baseUrl, server.keys.operator);
});
afterAll(() => server.close());

const ms = (ts: Timestamp | undefined) => (ts ? timestampDate(ts).getTime() : undefined);

async function createWeekly(
  rule = "FREQ=WEEKLY;BYDAY=SA;BYHOUR=18;COUNT=3",
  start = SATURDAY,
  runDurationMs = 2 * HOUR,
): Promise<Event> {
  const { event } = await client.admin.createEvent({
    event: {
      title: "Saturday showdown",
      startTime: timestampFromMs(start),
      recurrence: { rule, runDuration: durationFromMs(runDurationMs) },
    },
  });
  if (!event) throw new Error("no event");
  return event;
}

const getEvent = async (id: string) => (await client.events.getEvent({ id })).event as Event;
/** The ids of GET /events, the active events of the original contract. */
async function activeIds(): Promise<string[]> {
  const res = await fetch(`${server.baseUrl}/events`, { headers: { authorization: `Bearer ${server.keys.viewer}` } });
  return ((await jsonOf(res)).events as { id: string }[]).map((e) => e.id);
}
async function idsWithStatus(status: EventStatus): Promise<string[]> {
  return (await client.events.listEvents({ status, pageSize: 500 })).events.map((e) => e.id);
}
async function failure(call: Promise<unknown>) {
  const err = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  if (!err) throw new Error("the call succeeded");
  return {
    code: err.code,
    reason: err.findDetails(ErrorInfoSchema)[0]?.reason,
    fields: err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => v.field)),
    message: err.rawMessage,
  };
}

describe("a recurring event", () => {
  it("shows its rule, its first start, the end of its last run and its next run", async () => {
    server.clock.set(Date.UTC(2026, 5, 1, 12));
    const event = await createWeekly();
    expect(event.recurrence?.rule).toBe("FREQ=WEEKLY;BYDAY=SA;BYHOUR=18;COUNT=3");
    expect(ms(event.startTime)).toBe(SATURDAY);
    expect(ms(event.endTime)).toBe(SATURDAY + 2 * WEEK + 2 * HOUR);
    expect(ms(event.nextRunStartTime)).toBe(SATURDAY);
    expect(event.status).toBe(EventStatus.UPCOMING);
    expect(event.currentRun).toBeUndefined();
  });

  it("is UPCOMING, ACTIVE, BETWEEN_RUNS and ENDED in GetEvent, ListEvents and GET /events as its runs come and go", async () => {
    server.clock.set(Date.UTC(2026, 5, 1, 12));
    const { id } = await createWeekly();
    const expectState = async (status: EventStatus, run?: number, next?: number) => {
      const event = await getEvent(id);
      expect(event.status).toBe(status);
      expect(event.currentRun?.runNumber).toBe(run === undefined ? undefined : BigInt(run));
      expect(ms(event.nextRunStartTime)).toBe(next);
      for (const s of [EventStatus.UPCOMING, EventStatus.ACTIVE, EventStatus.BETWEEN_RUNS, EventStatus.ENDED]) {
        expect((await idsWithStatus(s)).includes(id), `ListEvents(${EventStatus[s]})`).toBe(s === status);
      }
      expect((await activeIds()).includes(id)).toBe(status === EventStatus.ACTIVE);
    };
    await expectState(EventStatus.UPCOMING, undefined, SATURDAY);
    server.clock.set(SATURDAY);
    await expectState(EventStatus.ACTIVE, 1, SATURDAY + WEEK);
    server.clock.set(SATURDAY + 2 * HOUR - 1);
    await expectState(EventStatus.ACTIVE, 1, SATURDAY + WEEK);
    server.clock.set(SATURDAY + 2 * HOUR);
    await expectState(EventStatus.BETWEEN_RUNS, undefined, SATURDAY + WEEK);
    server.clock.set(SATURDAY + WEEK + HOUR);
    await expectState(EventStatus.ACTIVE, 2, SATURDAY + 2 * WEEK);
    server.clock.set(SATURDAY + 2 * WEEK + HOUR);
    await expectState(EventStatus.ACTIVE, 3, undefined);
    server.clock.set(SATURDAY + 2 * WEEK + 2 * HOUR);
    await expectState(EventStatus.ENDED, undefined, undefined);
  });

  it("lists its past and future runs in a window, page by page", async () => {
    server.clock.set(Date.UTC(2026, 5, 1, 12));
    const { id } = await createWeekly("FREQ=WEEKLY;BYDAY=SA;BYHOUR=18;COUNT=5");
    server.clock.set(SATURDAY + WEEK + 3 * HOUR);
    const all = await client.events.listEventRuns({ eventId: id });
    expect(all.runs.map((r) => ms(r.startTime))).toEqual([0, 1, 2, 3, 4].map((k) => SATURDAY + k * WEEK));
    expect(all.runs.map((r) => r.runNumber)).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(all.nextPageToken).toBe("");
    const window = { startTime: timestampFromMs(SATURDAY + WEEK), endTime: timestampFromMs(SATURDAY + 3 * WEEK) };
    const first = await client.events.listEventRuns({ eventId: id, ...window, pageSize: 1 });
    expect(first.runs.map((r) => r.runNumber)).toEqual([2n]);
    const second = await client.events.listEventRuns({
      eventId: id,
      ...window,
      pageSize: 1,
      pageToken: first.nextPageToken,
    });
    expect(second.runs.map((r) => r.runNumber)).toEqual([3n]);
    expect(second.nextPageToken).toBe("");
  });

  it("pages through an open-ended rule without ever expanding it whole", async () => {
    server.clock.set(Date.UTC(2026, 5, 1, 12));
    const start = Date.UTC(2026, 5, 1, 13);
    const { id, endTime } = await createWeekly("FREQ=HOURLY", start, HOUR / 2);
    expect(endTime).toBeUndefined();
    // Runs ten years ahead: far past what is planned, reached with bounded work per page.
    const from = Date.UTC(2036, 0, 1);
    let pageToken = "";
    let runs: EventRun[] = [];
    let pages = 0;
    while (runs.length === 0) {
      const page = await client.events.listEventRuns({
        eventId: id,
        startTime: timestampFromMs(from),
        pageSize: 3,
        pageToken,
      });
      runs = page.runs;
      pageToken = page.nextPageToken;
      expect(pageToken).not.toBe("");
      pages++;
    }
    expect(pages).toBeGreaterThan(1);
    // Ends at or before the window's start are skipped; the run live at it is the first.
    // Half-hour runs: the one that ends exactly at the window's start is not in it.
    expect(runs.map((r) => ms(r.startTime))).toEqual([from, from + HOUR, from + 2 * HOUR]);
    expect(runs[0]?.runNumber).toBe(BigInt((from - start) / HOUR + 1));
    const next = await client.events.listEventRuns({
      eventId: id,
      startTime: timestampFromMs(from),
      pageSize: 2,
      pageToken,
    });
    expect(next.runs.map((r) => ms(r.startTime))).toEqual([from + 3 * HOUR, from + 4 * HOUR]);
    // Hourly runs are no fixture for the tests that move the clock by months.
    await client.admin.deleteEvent({ id });
  });

  it("keeps planning an open-ended rule as time goes on", async () => {
    server.clock.set(Date.UTC(2026, 5, 1, 12));
    const { id } = await createWeekly("FREQ=DAILY;BYHOUR=18", Date.UTC(2026, 5, 1, 18), 2 * HOUR);
    for (const day of [0, 40, 75, 200]) {
      server.clock.set(Date.UTC(2026, 5, 1, 19) + day * DAY);
      // The scheduler plans the next runs off the event loop, a moment after the clock moves.
      await server.app.scheduler.idle();
      await vi.waitFor(async () => {
        const event = await getEvent(id);
        expect(event.status).toBe(EventStatus.ACTIVE);
        expect(event.currentRun?.runNumber).toBe(BigInt(day + 1));
        expect(ms(event.nextRunStartTime)).toBe(Date.UTC(2026, 5, 1, 18) + (day + 1) * DAY);
      }, 10_000);
      expect(await activeIds()).toContain(id);
    }
    await client.admin.deleteEvent({ id });
  });

  it("plans a schedule that started before it was created from now on, numbering runs from its first start", async () => {
    const now = Date.UTC(2026, 5, 1, 12);
    server.clock.set(now);
    // Every minute since a day before it existed: the 1,440 runs that would have ended already are not stored.
    const { id } = await createWeekly("FREQ=MINUTELY", now - DAY, 30_000);
    const event = await getEvent(id);
    expect(event.status).toBe(EventStatus.ACTIVE);
    expect(event.currentRun?.runNumber).toBe(1441n);
    expect(ms(event.currentRun?.startTime)).toBe(now);
    expect(ms(event.nextRunStartTime)).toBe(now + 60_000);
    const { runs } = await client.events.listEventRuns({ eventId: id, pageSize: 5 });
    expect(runs.map((r) => r.runNumber)).toEqual([1441n, 1442n, 1443n, 1444n, 1445n]);
    expect(await activeIds()).toContain(id);
    await client.admin.deleteEvent({ id });
  });

  it("after an outage past its planned runs, goes on from now without storing the runs it missed", async () => {
    server.clock.set(Date.UTC(2026, 5, 1, 12));
    const { id } = await createWeekly("FREQ=HOURLY", Date.UTC(2026, 5, 1, 13), HOUR / 2);
    // 1,000 hourly runs are planned (about 41 days); the scheduler next runs a year later.
    const later = Date.UTC(2027, 5, 1, 12, 10);
    server.clock.set(later);
    await vi.waitFor(async () => {
      const event = await getEvent(id);
      expect(event.status).toBe(EventStatus.ACTIVE);
      expect(ms(event.currentRun?.startTime)).toBe(Date.UTC(2027, 5, 1, 12));
      expect(event.currentRun?.runNumber).toBe(BigInt(365 * 24));
    }, 10_000);
    const missed = await client.events.listEventRuns({
      eventId: id,
      startTime: timestampFromMs(Date.UTC(2026, 8, 1)),
      endTime: timestampFromMs(Date.UTC(2027, 5, 1)),
    });
    expect(missed.runs).toEqual([]);
    await client.admin.deleteEvent({ id });
  });

  it.each([
    ["an invalid rule", { rule: "FREQ=FORTNIGHTLY", runDuration: durationFromMs(HOUR) }, "event.recurrence.rule"],
    ["a rule without FREQ", { rule: "BYDAY=SA", runDuration: durationFromMs(HOUR) }, "event.recurrence.rule"],
    ["a zero duration", { rule: "FREQ=WEEKLY", runDuration: durationFromMs(0) }, "event.recurrence.run_duration"],
    [
      "a negative duration",
      { rule: "FREQ=WEEKLY", runDuration: { seconds: -60n, nanos: 0 } },
      "event.recurrence.run_duration",
    ],
    ["no duration", { rule: "FREQ=WEEKLY" }, "event.recurrence.run_duration"],
    [
      "overlapping runs",
      { rule: "FREQ=DAILY", runDuration: durationFromMs(25 * HOUR) },
      "event.recurrence.run_duration",
    ],
    [
      "a start that is not an occurrence",
      { rule: "FREQ=WEEKLY;BYDAY=SU", runDuration: durationFromMs(HOUR) },
      "event.start_time",
    ],
  ])("refuses %s with INVALID_ARGUMENT naming the field", async (_name, recurrence, field) => {
    const call = client.admin.createEvent({
      event: { title: "Bad", startTime: timestampFromMs(SATURDAY), recurrence },
    });
    const { code, fields } = await failure(call);
    expect(code).toBe(Code.InvalidArgument);
    expect(fields).toEqual([field]);
  });

  it("still requires an end time of a one-off event", async () => {
    const { fields } = await failure(
      client.admin.createEvent({ event: { title: "x", startTime: timestampFromMs(SATURDAY) } }),
    );
    expect(fields).toEqual(["event.end_time"]);
  });

  it("ends at its end time: no run starts at or after it, and a run live at it ends then", async () => {
    server.clock.set(Date.UTC(2026, 5, 1, 12));
    const { event } = await client.admin.createEvent({
      event: {
        title: "Until the 13th",
        startTime: timestampFromMs(SATURDAY),
        endTime: timestampFromMs(SATURDAY + WEEK + HOUR),
        recurrence: { rule: "FREQ=WEEKLY;BYDAY=SA;BYHOUR=18", runDuration: durationFromMs(2 * HOUR) },
      },
    });
    const runs = (await client.events.listEventRuns({ eventId: event?.id ?? "" })).runs;
    expect(runs.map((r) => [ms(r.startTime), ms(r.endTime)])).toEqual([
      [SATURDAY, SATURDAY + 2 * HOUR],
      [SATURDAY + WEEK, SATURDAY + WEEK + HOUR],
    ]);
  });
});

describe("changing a recurring event", () => {
  it("may change its text, rewards and end while a run is live, but not its rule or start", async () => {
    server.clock.set(Date.UTC(2026, 5, 1, 12));
    const { id } = await createWeekly("FREQ=WEEKLY;BYDAY=SA;BYHOUR=18");
    server.clock.set(SATURDAY + HOUR);
    const update = (event: Omit<MessageInitShape<typeof EventSchema>, "$typeName">, paths: string[]) =>
      client.admin.updateEvent({ event: { ...event, id }, updateMask: { paths } });
    expect(
      await codeOf(
        update({ title: "Renamed live", rewards: [{ id: "g", name: "Gems", quantity: 5n }] }, ["title", "rewards"]),
      ),
    ).toBe("ok");
    const rule = await failure(
      update(
        { recurrence: { rule: "FREQ=WEEKLY;BYDAY=SA,SU;BYHOUR=18", runDuration: durationFromMs(HOUR) } as never },
        ["recurrence"],
      ),
    );
    expect(rule).toMatchObject({ code: Code.FailedPrecondition, reason: "RUN_LIVE" });
    expect(rule.message).toContain("recurrence cannot change");
    const start = await failure(update({ startTime: timestampFromMs(SATURDAY + WEEK) }, ["start_time"]));
    expect(start).toMatchObject({ code: Code.FailedPrecondition, reason: "RUN_LIVE" });
    // A new end: the live run now ends at it, and no run follows.
    const { event } = await update({ endTime: timestampFromMs(SATURDAY + 90 * 60_000) }, ["end_time"]);
    expect(ms(event?.currentRun?.endTime)).toBe(SATURDAY + 90 * 60_000);
    expect(ms(event?.endTime)).toBe(SATURDAY + 90 * 60_000);
    expect(event?.nextRunStartTime).toBeUndefined();
    const past = await failure(update({ endTime: timestampFromMs(SATURDAY) }, ["end_time"]));
    expect(past).toMatchObject({ code: Code.InvalidArgument, fields: ["event.end_time"] });
    server.clock.set(SATURDAY + 2 * HOUR);
    expect((await getEvent(id)).status).toBe(EventStatus.ENDED);
    const ended = await failure(update({ endTime: timestampFromMs(SATURDAY + 4 * WEEK) }, ["end_time"]));
    expect(ended).toMatchObject({ code: Code.FailedPrecondition, reason: "EVENT_ENDED" });
    expect(await codeOf(update({ title: "Renamed after" }, ["title"]))).toBe("ok");
  });

  it("may change its rule between runs, keeping the runs that happened", async () => {
    server.clock.set(Date.UTC(2026, 5, 1, 12));
    const { id } = await createWeekly("FREQ=WEEKLY;BYDAY=SA;BYHOUR=18");
    server.clock.set(SATURDAY + 3 * HOUR);
    const { event } = await client.admin.updateEvent({
      event: { id, recurrence: { rule: "FREQ=WEEKLY;BYDAY=SA,SU;BYHOUR=18", runDuration: durationFromMs(HOUR) } },
      updateMask: { paths: ["recurrence"] },
    });
    expect(event?.status).toBe(EventStatus.BETWEEN_RUNS);
    expect(ms(event?.nextRunStartTime)).toBe(SATURDAY + DAY);
    const runs = (
      await client.events.listEventRuns({ eventId: id, endTime: timestampFromMs(SATURDAY + WEEK + DAY + 1) })
    ).runs;
    expect(runs.map((r) => [r.runNumber, ms(r.startTime), ms(r.endTime)])).toEqual([
      [1n, SATURDAY, SATURDAY + 2 * HOUR],
      [2n, SATURDAY + DAY, SATURDAY + DAY + HOUR],
      [3n, SATURDAY + WEEK, SATURDAY + WEEK + HOUR],
      [4n, SATURDAY + WEEK + DAY, SATURDAY + WEEK + DAY + HOUR],
    ]);
    const stop = await failure(client.admin.updateEvent({ event: { id }, updateMask: { paths: ["recurrence"] } }));
    expect(stop).toMatchObject({ code: Code.FailedPrecondition, reason: "EVENT_STARTED" });
  });
});

describe("EndEvent", () => {
  it("ends only the live run with current_run_only; later runs happen as scheduled", async () => {
    server.clock.set(Date.UTC(2026, 5, 1, 12));
    const { id } = await createWeekly();
    server.clock.set(SATURDAY + HOUR);
    const { event } = await client.admin.endEvent({ id, currentRunOnly: true });
    expect(event?.status).toBe(EventStatus.BETWEEN_RUNS);
    expect(ms(event?.nextRunStartTime)).toBe(SATURDAY + WEEK);
    expect(await activeIds()).not.toContain(id);
    const [first] = (await client.events.listEventRuns({ eventId: id })).runs;
    expect(first).toMatchObject({ runNumber: 1n, endedEarly: true });
    expect(ms(first?.endTime)).toBe(SATURDAY + HOUR);
    server.clock.set(SATURDAY + WEEK);
    expect((await getEvent(id)).status).toBe(EventStatus.ACTIVE);
  });

  it("ends the whole event: no later run, ENDED at once", async () => {
    server.clock.set(Date.UTC(2026, 5, 1, 12));
    const { id } = await createWeekly("FREQ=WEEKLY;BYDAY=SA;BYHOUR=18");
    server.clock.set(SATURDAY + HOUR);
    const { event } = await client.admin.endEvent({ id });
    expect(event?.status).toBe(EventStatus.ENDED);
    expect(ms(event?.endTime)).toBe(SATURDAY + HOUR);
    expect((await client.events.listEventRuns({ eventId: id })).runs).toHaveLength(1);
    expect(await idsWithStatus(EventStatus.ENDED)).toContain(id);
    server.clock.set(SATURDAY + WEEK);
    expect((await getEvent(id)).status).toBe(EventStatus.ENDED);
  });

  it("ends a one-off event early", async () => {
    server.clock.set(Date.UTC(2026, 5, 1, 12));
    const { event } = await client.admin.createEvent({
      event: {
        title: "One-off",
        startTime: timestampFromMs(Date.UTC(2026, 5, 1, 12)),
        endTime: timestampFromMs(SATURDAY),
      },
    });
    const id = event?.id ?? "";
    expect((await getEvent(id)).currentRun?.runNumber).toBe(1n);
    server.clock.set(Date.UTC(2026, 5, 2));
    const ended = await client.admin.endEvent({ id });
    expect(ended.event?.status).toBe(EventStatus.ENDED);
    expect(ms(ended.event?.endTime)).toBe(Date.UTC(2026, 5, 2));
  });

  it("refuses what cannot be ended with FAILED_PRECONDITION", async () => {
    server.clock.set(Date.UTC(2026, 5, 1, 12));
    const { id, etag } = await createWeekly();
    expect(await failure(client.admin.endEvent({ id }))).toMatchObject({
      code: Code.FailedPrecondition,
      reason: "EVENT_NOT_STARTED",
    });
    server.clock.set(SATURDAY + 3 * HOUR);
    expect(await failure(client.admin.endEvent({ id, currentRunOnly: true }))).toMatchObject({ reason: "NO_LIVE_RUN" });
    await client.admin.updateEvent({ event: { id, title: "Renamed" }, updateMask: { paths: ["title"] } });
    expect(await failure(client.admin.endEvent({ id, etag }))).toMatchObject({ code: Code.Aborted });
    expect(await codeOf(client.admin.endEvent({ id }))).toBe("ok");
    expect(await failure(client.admin.endEvent({ id }))).toMatchObject({ reason: "EVENT_ENDED" });
    expect(await failure(client.admin.endEvent({ id: "00000000-0000-4000-8000-000000000000" }))).toMatchObject({
      code: Code.NotFound,
    });
  });

  it("is for operators: a viewer key is refused", async () => {
    const viewer = connectClients(server.baseUrl, server.keys.viewer);
    expect(await codeOf(viewer.admin.endEvent({ id: "00000000-0000-4000-8000-000000000000" }))).toBe(
      Code.PermissionDenied,
    );
  });
});
