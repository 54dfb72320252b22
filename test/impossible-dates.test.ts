import { createConnectRouter } from "@connectrpc/connect";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditService } from "../gen/liveops/v1/audit_service_pb.js";
import { CreateEventRequestSchema } from "../gen/liveops/v1/event_admin_service_pb.js";
import { createRefusalInterceptor } from "../src/server/call-interceptors.js";
import { calendarTimeProblem, timestampViolation } from "../src/server/json-timestamps.js";
import { guardMalformedMessages } from "../src/server/malformed-messages.js";
import { type JsonBody, jsonOf } from "./support/http.js";
import { startTestServer, type TestServer } from "./support/server.js";

// protobuf-es reads a JSON Timestamp with Date.parse, which rolls "2030-02-30" over to March 2. Every JSON request
// path refuses an impossible date with INVALID_ARGUMENT naming the field, and accepts every possible one.

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** Whether year-month-day is on the calendar (proleptic Gregorian, as RFC 3339). */
function onCalendar(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

const dates = fc.record({
  year: fc.integer({ min: 1970, max: 2400 }),
  month: fc.integer({ min: 0, max: 14 }),
  day: fc.integer({ min: 0, max: 33 }),
});
/** Dates that are not on the calendar, most of them day 29-31 of a month too short for it. */
const impossibleDates = fc
  .oneof(
    dates,
    fc.record({
      year: fc.integer({ min: 1970, max: 2400 }),
      month: fc.constantFrom(2, 4, 6, 9, 11),
      day: fc.constantFrom(29, 30, 31),
    }),
  )
  .filter(({ year, month, day }) => !onCalendar(year, month, day));
const possibleDates = fc
  .record({
    year: fc.integer({ min: 1970, max: 2400 }),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 31 }),
  })
  .filter(({ year, month, day }) => onCalendar(year, month, day));
const rfc3339 = ({ year, month, day }: { year: number; month: number; day: number }) =>
  `${pad(year, 4)}-${pad(month)}-${pad(day)}T12:30:00Z`;

describe("a JSON Timestamp's calendar check", () => {
  it("accepts every date on the calendar, leap days included", () => {
    fc.assert(fc.property(possibleDates, (date) => calendarTimeProblem(rfc3339(date)) === undefined));
    expect(calendarTimeProblem("2024-02-29T00:00:00Z")).toBeUndefined();
    expect(calendarTimeProblem("2000-02-29T23:59:59.123456789+14:00")).toBeUndefined();
  });

  it("refuses every date off the calendar, times of day that do not exist and what is not RFC 3339", () => {
    fc.assert(fc.property(impossibleDates, (date) => calendarTimeProblem(rfc3339(date)) !== undefined));
    for (const text of [
      "2023-02-29T00:00:00Z",
      "1900-02-29T00:00:00Z",
      "2030-01-01T24:00:00Z",
      "2030-01-01T12:60:00Z",
      "2030-01-01T12:00:60Z",
      "2030-01-01T12:00:00+24:00",
      "2030-01-01",
      "2030-01-01 12:00:00Z",
      "tomorrow",
    ]) {
      expect(calendarTimeProblem(text), text).toBeDefined();
    }
  });

  it("looks only at Timestamp fields, nested ones by their path, never at other strings", () => {
    const title = "2030-02-30T00:00:00Z";
    expect(timestampViolation(CreateEventRequestSchema, { event: { title } })).toBeUndefined();
    expect(timestampViolation(CreateEventRequestSchema, { event: { title, startTime: title } })?.field).toBe(
      "event.start_time",
    );
    expect(timestampViolation(CreateEventRequestSchema, { event: { end_time: "2030-04-31T00:00:00Z" } })?.field).toBe(
      "event.end_time",
    );
  });
});

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const LIST_AUDIT = "/liveops.v1.AuditService/ListAuditEntries";

/** The HTTP status and body of a Connect JSON ListAuditEntries, as POST or as GET. */
async function listAudit(message: object, get: boolean): Promise<{ status: number; body: JsonBody }> {
  const headers = { authorization: `Bearer ${server.keys.admin}` };
  const json = JSON.stringify(message);
  const res = get
    ? await fetch(`${server.baseUrl}${LIST_AUDIT}?encoding=json&message=${encodeURIComponent(json)}`, { headers })
    : await fetch(`${server.baseUrl}${LIST_AUDIT}`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: json,
      });
  return { status: res.status, body: await jsonOf(res) };
}

/** The field named by the BadRequest detail of a Connect error body. */
function violatedField(body: JsonBody): string | undefined {
  const detail = (body.details as { type: string; debug?: { fieldViolations?: { field: string }[] } }[])?.find((d) =>
    d.type.endsWith("BadRequest"),
  );
  return detail?.debug?.fieldViolations?.[0]?.field;
}

describe("impossible dates in Connect JSON requests", () => {
  for (const get of [false, true]) {
    const how = get ? "GET" : "POST";

    it(`are INVALID_ARGUMENT naming the field over Connect ${how}`, async () => {
      await fc.assert(
        fc.asyncProperty(impossibleDates, fc.boolean(), async (date, protoName) => {
          const message = protoName ? { end_time: rfc3339(date) } : { endTime: rfc3339(date) };
          const { status, body } = await listAudit(message, get);
          expect(status).toBe(400);
          expect(body.code).toBe("invalid_argument");
          expect(violatedField(body)).toBe("end_time");
        }),
        { numRuns: 60 },
      );
    });

    it(`are accepted when on the calendar over Connect ${how}`, async () => {
      await fc.assert(
        fc.asyncProperty(possibleDates, async (date) => {
          const { status } = await listAudit({ startTime: rfc3339(date) }, get);
          expect(status).toBe(200);
        }),
        { numRuns: 60 },
      );
    });
  }

  it("are refused in nested messages (CreateEvent's event.start_time) before the key's role is looked at", async () => {
    const res = await fetch(`${server.baseUrl}/liveops.v1.EventAdminService/CreateEvent`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.keys.viewer}`, "content-type": "application/json" },
      body: JSON.stringify({ event: { title: "2030-02-30", startTime: "2030-02-30T00:00:00Z" } }),
    });
    const body = await jsonOf(res);
    expect(body.code).toBe("invalid_argument");
    expect(violatedField(body)).toBe("event.start_time");
  });
});

describe("impossible dates on the Connect router's path", () => {
  const router = createConnectRouter({ interceptors: [createRefusalInterceptor()] });
  router.service(AuditService, { listAuditEntries: () => ({}) });
  const handler = router.handlers.find((h) => h.requestPath === LIST_AUDIT);
  if (!handler) throw new Error("no handler");
  const guarded = guardMalformedMessages(handler, 1 << 20);
  const call = async (req: Partial<UniversalServerRequest>) => {
    const res = await guarded({
      httpVersion: "1.1",
      method: "POST",
      url: `http://localhost${LIST_AUDIT}`,
      header: new Headers({ "content-type": "application/json" }),
      body: (async function* () {})(),
      signal: new AbortController().signal,
      ...req,
    });
    return res.status;
  };
  const bodyOf = (text: string) =>
    (async function* () {
      yield new TextEncoder().encode(text);
    })();

  it("are INVALID_ARGUMENT in a POST and in a GET, and possible dates pass", async () => {
    expect(await call({ body: bodyOf('{"startTime":"2030-02-30T00:00:00Z"}') })).toBe(400);
    expect(await call({ body: bodyOf('{"startTime":"2030-02-28T00:00:00Z"}') })).toBe(200);
    const query = (json: string) => `http://localhost${LIST_AUDIT}?encoding=json&message=${encodeURIComponent(json)}`;
    expect(await call({ method: "GET", url: query('{"startTime":"2031-06-31T00:00:00Z"}') })).toBe(400);
    expect(await call({ method: "GET", url: query('{"startTime":"2031-06-30T00:00:00Z"}') })).toBe(200);
  });
});
