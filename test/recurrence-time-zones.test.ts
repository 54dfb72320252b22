import { durationFromMs, type Timestamp, timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { AuditService } from "../gen/liveops/v1/audit_service_pb.js";
import { type Event, EventStatus } from "../gen/liveops/v1/event_pb.js";
import { bearer, connectClients, type EventClients } from "./support/clients.js";
import { jsonOf } from "./support/http.js";
import { startTestServer, storedRows, type TestServer } from "./support/server.js";

// Every test here runs on SQLite and on PostgreSQL: the vitest projects run each test file once per backend.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const BERLIN = "Europe/Berlin";
const NEW_YORK = "America/New_York";

let server: TestServer;
let client: EventClients;
beforeAll(async () => {
  server = await startTestServer();
  client = connectClients(server.baseUrl, server.keys.operator);
});
afterAll(() => server.close());

const at = (text: string) => Date.parse(text);
const iso = (ts: Timestamp | undefined) => (ts ? timestampDate(ts).toISOString() : undefined);

async function createRecurring(rule: string, start: string, timeZone: string, runDurationMs = HOUR): Promise<Event> {
  const { event } = await client.admin.createEvent({
    event: {
      title: `${rule} in ${timeZone || "UTC"}`,
      startTime: timestampFromMs(at(start)),
      recurrence: { rule, runDuration: durationFromMs(runDurationMs), timeZone },
    },
  });
  if (!event) throw new Error("no event");
  return event;
}

/** The start instants of an event's runs (in a window, when given). */
async function runStarts(id: string, window: { from?: string; to?: string } = {}): Promise<(string | undefined)[]> {
  const { runs } = await client.events.listEventRuns({
    eventId: id,
    startTime: window.from ? timestampFromMs(at(window.from)) : undefined,
    endTime: window.to ? timestampFromMs(at(window.to)) : undefined,
    pageSize: 100,
  });
  return runs.map((r) => iso(r.startTime));
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
    violations: err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations),
    message: err.rawMessage,
  };
}

describe("a recurring event in a time zone", () => {
  it("runs daily at 18:00 Berlin time across the spring-forward: 17:00Z, then 16:00Z", async () => {
    server.clock.set(at("2027-03-01T00:00:00Z"));
    const event = await createRecurring("FREQ=DAILY;COUNT=4", "2027-03-26T17:00:00Z", BERLIN);
    expect(event.recurrence?.timeZone).toBe(BERLIN);
    expect(iso(event.endTime)).toBe("2027-03-29T17:00:00.000Z");
    expect(await runStarts(event.id)).toEqual([
      "2027-03-26T17:00:00.000Z",
      "2027-03-27T17:00:00.000Z",
      "2027-03-28T16:00:00.000Z",
      "2027-03-29T16:00:00.000Z",
    ]);
  });

  it("runs daily at 18:00 Berlin time across the fall-back: 16:00Z, then 17:00Z", async () => {
    server.clock.set(at("2027-10-01T00:00:00Z"));
    const event = await createRecurring("FREQ=DAILY;COUNT=4", "2027-10-29T16:00:00Z", BERLIN);
    expect(await runStarts(event.id)).toEqual([
      "2027-10-29T16:00:00.000Z",
      "2027-10-30T16:00:00.000Z",
      "2027-10-31T17:00:00.000Z",
      "2027-11-01T17:00:00.000Z",
    ]);
  });

  it("runs weekly on Sunday at 18:00 New York time across both 2027 changes, open-ended", async () => {
    server.clock.set(at("2027-03-01T00:00:00Z"));
    const event = await createRecurring("FREQ=WEEKLY;BYDAY=SU;BYHOUR=18", "2027-03-07T23:00:00Z", NEW_YORK);
    expect(iso(event.nextRunStartTime)).toBe("2027-03-07T23:00:00.000Z");
    expect(event.endTime).toBeUndefined();
    expect(await runStarts(event.id, { to: "2027-03-22T00:00:00Z" })).toEqual([
      "2027-03-07T23:00:00.000Z", // EST
      "2027-03-14T22:00:00.000Z", // EDT from 14 March
      "2027-03-21T22:00:00.000Z",
    ]);
    // Beyond the planned runs: computed by continuing the rule in its zone. Such a read has a short time limit (and
    // is refused, to be retried, when a loaded machine's cold worker misses it), hence waitFor.
    await vi.waitFor(async () => {
      expect(await runStarts(event.id, { from: "2027-10-30T00:00:00Z", to: "2027-11-15T00:00:00Z" })).toEqual([
        "2027-10-31T22:00:00.000Z",
        "2027-11-07T23:00:00.000Z", // EST from 7 November
        "2027-11-14T23:00:00.000Z",
      ]);
    }, 10_000);
  });

  it("moves a run at 02:30 on the spring-forward day to 03:30 local time", async () => {
    server.clock.set(at("2027-03-01T00:00:00Z"));
    const event = await createRecurring("FREQ=DAILY;COUNT=4", "2027-03-26T01:30:00Z", BERLIN, 30 * MINUTE);
    expect(await runStarts(event.id)).toEqual([
      "2027-03-26T01:30:00.000Z", // 02:30 CET
      "2027-03-27T01:30:00.000Z", // 02:30 CET
      "2027-03-28T01:30:00.000Z", // 02:30 does not exist: 03:30 CEST
      "2027-03-29T00:30:00.000Z", // 02:30 CEST
    ]);
  });

  it("runs an ambiguous 02:30 on the fall-back day at its first (earlier) instant", async () => {
    server.clock.set(at("2027-10-01T00:00:00Z"));
    const event = await createRecurring("FREQ=DAILY;COUNT=4", "2027-10-29T00:30:00Z", BERLIN, 30 * MINUTE);
    expect(await runStarts(event.id)).toEqual([
      "2027-10-29T00:30:00.000Z", // 02:30 CEST
      "2027-10-30T00:30:00.000Z",
      "2027-10-31T00:30:00.000Z", // 02:30 happens twice: the first, CEST
      "2027-11-01T01:30:00.000Z", // 02:30 CET
    ]);
  });

  it("is planned further by the scheduler at local time as the clock passes a change", async () => {
    server.clock.set(at("2027-03-01T00:00:00Z"));
    const event = await createRecurring("FREQ=DAILY", "2027-03-01T17:00:00Z", BERLIN);
    // The first plan covers 30 days: the runs after the change come from the scheduler's extension.
    for (const [now, currentStart, nextStart] of [
      ["2027-03-27T17:30:00Z", "2027-03-27T17:00:00.000Z", "2027-03-28T16:00:00.000Z"],
      ["2027-04-20T16:30:00Z", "2027-04-20T16:00:00.000Z", "2027-04-21T16:00:00.000Z"],
    ] as const) {
      server.clock.set(at(now));
      await server.app.scheduler.idle();
      await vi.waitFor(async () => {
        const current = (await client.events.getEvent({ id: event.id })).event;
        expect(current?.status).toBe(EventStatus.ACTIVE);
        expect(iso(current?.currentRun?.startTime)).toBe(currentStart);
        expect(iso(current?.nextRunStartTime)).toBe(nextStart);
      }, 10_000);
    }
    await client.admin.deleteEvent({ id: event.id });
  });

  it("checks for overlapping runs in local days: a 24-hour run every day overlaps on a 23-hour day", async () => {
    server.clock.set(at("2027-03-01T00:00:00Z"));
    const bad = await failure(createRecurring("FREQ=DAILY", "2027-03-20T17:00:00Z", BERLIN, DAY));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.violations).toEqual([
      expect.objectContaining({ field: "event.recurrence.run_duration", reason: "RUNS_OVERLAP" }),
    ]);
    // In UTC every day has 24 hours.
    const utc = await createRecurring("FREQ=DAILY", "2027-03-20T17:00:00Z", "", DAY);
    await client.admin.deleteEvent({ id: utc.id });
  });

  it("needs start_time to be an occurrence in local time", async () => {
    server.clock.set(at("2027-01-01T00:00:00Z"));
    // 18:00Z is 19:00 in Berlin in winter.
    const bad = await failure(createRecurring("FREQ=WEEKLY;BYDAY=SA;BYHOUR=18", "2027-01-02T18:00:00Z", BERLIN));
    expect(bad.violations).toEqual([
      expect.objectContaining({ field: "event.start_time", reason: "NOT_AN_OCCURRENCE" }),
    ]);
    expect(bad.violations[0]?.description).toContain("2027-01-02T19:00:00 Europe/Berlin");
    const good = await createRecurring("FREQ=WEEKLY;BYDAY=SA;BYHOUR=18;COUNT=2", "2027-01-02T17:00:00Z", BERLIN);
    expect(await runStarts(good.id)).toEqual(["2027-01-02T17:00:00.000Z", "2027-01-09T17:00:00.000Z"]);
  });

  it("ends at an UNTIL given in UTC as an instant", async () => {
    server.clock.set(at("2027-03-01T00:00:00Z"));
    const event = await createRecurring("FREQ=DAILY;UNTIL=20270328T160000Z", "2027-03-26T17:00:00Z", BERLIN);
    expect(await runStarts(event.id)).toEqual([
      "2027-03-26T17:00:00.000Z",
      "2027-03-27T17:00:00.000Z",
      "2027-03-28T16:00:00.000Z",
    ]);
  });
});

describe("the time zone field", () => {
  it("refuses a zone that is not an IANA time zone as INVALID_ARGUMENT naming recurrence.time_zone", async () => {
    server.clock.set(at("2027-03-01T00:00:00Z"));
    for (const zone of ["Mars/Olympus_Mons", "+01:00", "Europe/Berln"]) {
      const bad = await failure(createRecurring("FREQ=DAILY", "2027-03-26T17:00:00Z", zone));
      expect(bad.code).toBe(Code.InvalidArgument);
      expect(bad.violations).toEqual([
        expect.objectContaining({ field: "event.recurrence.time_zone", reason: "UNKNOWN_TIME_ZONE" }),
      ]);
      expect(bad.violations[0]?.description).toContain("is not an IANA time zone");
    }
  });

  it("refuses TZID in the rule, pointing at time_zone", async () => {
    const bad = await failure(createRecurring("FREQ=DAILY;TZID=Europe/Berlin", "2027-03-26T17:00:00Z", ""));
    expect(bad.violations).toEqual([expect.objectContaining({ field: "event.recurrence.rule" })]);
    expect(bad.violations[0]?.description).toContain("recurrence.time_zone");
  });

  it("keeps UTC as before, whether given as empty, UTC or Etc/UTC: stored as none, returned empty", async () => {
    server.clock.set(at("2027-03-01T00:00:00Z"));
    for (const zone of ["", "UTC", "Etc/UTC"]) {
      const event = await createRecurring("FREQ=DAILY;COUNT=3", "2027-03-27T17:00:00Z", zone);
      expect(event.recurrence?.timeZone).toBe("");
      expect(await runStarts(event.id)).toEqual([
        "2027-03-27T17:00:00.000Z",
        "2027-03-28T17:00:00.000Z",
        "2027-03-29T17:00:00.000Z",
      ]);
      const [row] = await storedRows<{ zone: string | null }>(
        server.dbPath,
        `SELECT recurrence_time_zone AS zone FROM events WHERE id = '${event.id}'`,
      );
      expect(row?.zone).toBeNull();
    }
  });

  it("survives a round trip by its canonical name: GetEvent, GET /events/{id}, the stored row", async () => {
    server.clock.set(at("2027-03-01T00:00:00Z"));
    const created = await createRecurring("FREQ=WEEKLY;BYDAY=SA;BYHOUR=18", "2027-03-06T17:00:00Z", "europe/berlin");
    expect(created.recurrence?.timeZone).toBe(BERLIN);
    const got = (await client.events.getEvent({ id: created.id })).event;
    expect(got?.recurrence?.timeZone).toBe(BERLIN);
    const res = await fetch(`${server.baseUrl}/events/${created.id}`, {
      headers: { authorization: `Bearer ${server.keys.viewer}` },
    });
    expect(res.status).toBe(200);
    expect((await jsonOf(res)).event.recurrence).toMatchObject({ timeZone: BERLIN });
    const [row] = await storedRows<{ zone: string | null }>(
      server.dbPath,
      `SELECT recurrence_time_zone AS zone FROM events WHERE id = '${created.id}'`,
    );
    expect(row?.zone).toBe(BERLIN);
    await client.admin.deleteEvent({ id: created.id });
  });
});

describe("changing the time zone", () => {
  const update = (id: string, timeZone: string, rule = "FREQ=DAILY;BYHOUR=18") =>
    client.admin.updateEvent({
      event: { id, recurrence: { rule, runDuration: durationFromMs(HOUR), timeZone } },
      updateMask: { paths: ["recurrence"] },
    });

  it("is refused while a run is live, like a change of the rule", async () => {
    server.clock.set(at("2027-01-01T00:00:00Z"));
    const event = await createRecurring("FREQ=DAILY;BYHOUR=18", "2027-01-01T18:00:00Z", "");
    server.clock.set(at("2027-01-01T18:30:00Z"));
    const live = await failure(update(event.id, BERLIN));
    expect(live).toMatchObject({ code: Code.FailedPrecondition, reason: "RUN_LIVE" });
    expect(live.message).toContain("recurrence cannot change");
    await client.admin.deleteEvent({ id: event.id });
  });

  it("replans the runs after the last one between runs, reading start_time in the new zone", async () => {
    server.clock.set(at("2027-03-01T00:00:00Z"));
    // Daily at 18:00 UTC; in Berlin its first start reads 19:00, so the runs go on at 19:00 Berlin time.
    const event = await createRecurring("FREQ=DAILY", "2027-03-20T18:00:00Z", "");
    server.clock.set(at("2027-03-20T20:00:00Z"));
    const { event: updated } = await update(event.id, BERLIN, "FREQ=DAILY");
    expect(updated?.recurrence?.timeZone).toBe(BERLIN);
    expect(updated?.status).toBe(EventStatus.BETWEEN_RUNS);
    expect(iso(updated?.nextRunStartTime)).toBe("2027-03-21T18:00:00.000Z");
    const { runs } = await client.events.listEventRuns({
      eventId: event.id,
      startTime: timestampFromMs(at("2027-03-27T00:00:00Z")),
      pageSize: 2,
    });
    expect(runs.map((r) => [r.runNumber, iso(r.startTime)])).toEqual([
      [8n, "2027-03-27T18:00:00.000Z"],
      [9n, "2027-03-28T17:00:00.000Z"],
    ]);
    const first = (await client.events.listEventRuns({ eventId: event.id, pageSize: 1 })).runs[0];
    expect(iso(first?.startTime)).toBe("2027-03-20T18:00:00.000Z");
    const audit = createClient(
      AuditService,
      createConnectTransport({
        baseUrl: server.baseUrl,
        httpVersion: "1.1",
        interceptors: [bearer(server.keys.admin)],
      }),
    );
    const { entries } = await audit.listAuditEntries({ targetId: event.id, pageSize: 10 });
    const change = entries.find((e) => e.changes?.recurrence !== undefined && e.changes.title === undefined);
    expect(change?.changes?.recurrence).toEqual({
      before: { rule: "FREQ=DAILY", run_duration_ms: HOUR, time_zone: "" },
      after: { rule: "FREQ=DAILY", run_duration_ms: HOUR, time_zone: BERLIN },
    });
    await client.admin.deleteEvent({ id: event.id });
  });
});
