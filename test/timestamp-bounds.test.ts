import { execFileSync } from "node:child_process";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { sql } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role } from "../gen/liveops/v1/api_key_pb.js";
import { ApiKeyService } from "../gen/liveops/v1/api_key_service_pb.js";
import { AuditService } from "../gen/liveops/v1/audit_service_pb.js";
import { EventAdminService } from "../gen/liveops/v1/event_admin_service_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import {
  durationFromStoredMs,
  parseBasicUtc,
  TIMESTAMP_MAX_MS,
  timestampFromStoredMs,
  warnOncePerKind,
} from "../src/timestamps.js";
import { bearer } from "./support/clients.js";
import { backendEnv, startTestServer, type TestServer } from "./support/server.js";
import { eventually, watchEvents } from "./support/watch.js";

// The range protobuf-es' JSON encoder accepts, written out here rather than imported: the test states the contract.
const MIN_S = -62_135_596_800n; // 0001-01-01T00:00:00Z
const MAX_S = 253_402_300_799n; // 9999-12-31T23:59:59Z (nanos up to .999999999)
const DURATION_MAX_S = 315_576_000_000n;
const DAY_MS = 86_400_000;
const TWO_62 = 2n ** 62n;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

/** An outcome: "ok" or the error code in the Connect protocol's spelling (`invalid_argument`). */
type Outcome = "ok" | string;
const spelled = (code: Code) => Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();

/** A Connect JSON call written by hand, so that the body can hold what a generated client refuses to encode. */
async function json(service: string, method: string, body: unknown, key = server.keys.admin) {
  const res = await fetch(`${server.baseUrl}/liveops.v1.${service}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as Record<string, unknown>;
  const outcome: Outcome = res.status === 200 ? "ok" : String(answer.code);
  return { outcome, answer };
}

let clients: {
  keys: Client<typeof ApiKeyService>;
  admin: Client<typeof EventAdminService>;
  events: Client<typeof EventService>;
  audit: Client<typeof AuditService>;
};
beforeAll(() => {
  const transport = createConnectTransport({
    baseUrl: server.baseUrl,
    httpVersion: "2",
    useBinaryFormat: true,
    interceptors: [bearer(server.keys.admin)],
  });
  clients = {
    keys: createClient(ApiKeyService, transport),
    admin: createClient(EventAdminService, transport),
    events: createClient(EventService, transport),
    audit: createClient(AuditService, transport),
  };
});

async function outcomeOf(call: Promise<unknown>): Promise<Outcome> {
  return call.then(
    () => "ok",
    (e: unknown) => spelled(ConnectError.from(e).code),
  );
}

interface Ts {
  seconds: bigint;
  nanos: number;
}

/** Seconds at and around every edge: the bounds, one past them, ±2^62, and some ordinary values near each end. */
const secondsNearEdges = fc.oneof(
  fc.constantFrom(MIN_S, MIN_S - 1n, MAX_S, MAX_S + 1n, TWO_62, -TWO_62, 0n),
  fc.bigInt({ min: MAX_S - 400n * 86_400n, max: MAX_S + 86_400n }),
  fc.bigInt({ min: MIN_S - 86_400n, max: MIN_S + 86_400n }),
);
const nanosNearEdges = fc.oneof(
  fc.constantFrom(0, 999_999_999, 1_000_000_000, -1, 999_000_000, 999_999),
  fc.integer({ min: 0, max: 999_999_999 }),
);
const timestamps: fc.Arbitrary<Ts> = fc.record({ seconds: secondsNearEdges, nanos: nanosNearEdges });

const timestampValid = (t: Ts) => t.seconds >= MIN_S && t.seconds <= MAX_S && t.nanos >= 0 && t.nanos <= 999_999_999;
/** The instant as the service stores it, to the millisecond. */
const msOf = (t: Ts) => Number(t.seconds) * 1000 + Math.floor(t.nanos / 1_000_000);

/** The RFC 3339 text of a timestamp, or text the JSON decoder must refuse when there is none. */
function timestampText(t: Ts): string {
  if (t.nanos < 0 || t.nanos > 999_999_999) return "2030-01-01T00:00:00.1000000000Z";
  const ms = Number(t.seconds) * 1000;
  if (Math.abs(ms) > 8.64e15) return `+${t.seconds}-01-01T00:00:00Z`;
  return new Date(ms).toISOString().replace(".000Z", `.${String(t.nanos).padStart(9, "0")}Z`);
}

interface Dur {
  seconds: bigint;
  nanos: number;
}
const durationValid = (d: Dur) =>
  d.seconds >= -DURATION_MAX_S &&
  d.seconds <= DURATION_MAX_S &&
  Math.abs(d.nanos) <= 999_999_999 &&
  !(d.seconds > 0n && d.nanos < 0) &&
  !(d.seconds < 0n && d.nanos > 0);
const durationMsOf = (d: Dur) => Number(d.seconds) * 1000 + Math.trunc(d.nanos / 1_000_000);

/** The JSON text of a duration (whose nanos JSON can express: at most nine digits, the sign of its seconds). */
function durationText(d: Dur): string {
  const negative = d.seconds < 0n || (d.seconds === 0n && d.nanos < 0);
  const whole = negative ? -d.seconds : d.seconds;
  return `${negative ? "-" : ""}${whole}.${String(Math.abs(d.nanos)).padStart(9, "0")}s`;
}
const expressibleInJson = (d: Dur) =>
  Math.abs(d.nanos) <= 999_999_999 && !(d.seconds > 0n && d.nanos < 0) && !(d.seconds < 0n && d.nanos > 0);

const count = async (table: string) =>
  Number((await server.app.storage.reads.get<{ n: number }>(sql`SELECT count(*) AS n FROM ${sql.raw(table)}`))?.n);

/** Every event listed over Connect JSON, page by page: fails on any error. */
async function listAllEventsJson(): Promise<Record<string, unknown>[]> {
  const all: Record<string, unknown>[] = [];
  let pageToken = "";
  do {
    const { outcome, answer } = await json("EventService", "ListEvents", { pageSize: 100, pageToken });
    expect(outcome).toBe("ok");
    all.push(...((answer.events as Record<string, unknown>[] | undefined) ?? []));
    pageToken = String(answer.nextPageToken ?? "");
  } while (pageToken !== "");
  return all;
}

async function listAllKeysJson(): Promise<Record<string, unknown>[]> {
  const all: Record<string, unknown>[] = [];
  let pageToken = "";
  do {
    const { outcome, answer } = await json("ApiKeyService", "ListApiKeys", { pageSize: 100, pageToken });
    expect(outcome).toBe("ok");
    all.push(...((answer.apiKeys as Record<string, unknown>[] | undefined) ?? []));
    pageToken = String(answer.nextPageToken ?? "");
  } while (pageToken !== "");
  return all;
}

const RUNS = { numRuns: 60 };

describe("CreateApiKey expire_time", () => {
  it("accepts exactly the in-range future times, stores them readable, and stores nothing else", async () => {
    await fc.assert(
      fc.asyncProperty(timestamps, fc.boolean(), async (t, overJson) => {
        const before = await count("api_keys");
        const outcome = overJson
          ? (
              await json("ApiKeyService", "CreateApiKey", {
                name: "k",
                role: "ROLE_VIEWER",
                expireTime: timestampText(t),
              })
            ).outcome
          : await outcomeOf(clients.keys.createApiKey({ name: "k", role: Role.VIEWER, expireTime: t }));
        const accepted = timestampValid(t) && msOf(t) > server.clock.now();
        expect(outcome).toBe(accepted ? "ok" : "invalid_argument");
        expect(await count("api_keys")).toBe(before + (accepted ? 1 : 0));
      }),
      RUNS,
    );
    await listAllKeysJson();
  });

  it("9999-12-31T23:59:59.999999999Z is the last accepted expiry, read back to the millisecond", async () => {
    const { outcome, answer } = await json("ApiKeyService", "CreateApiKey", {
      name: "last",
      role: "ROLE_VIEWER",
      expireTime: "9999-12-31T23:59:59.999999999Z",
    });
    expect(outcome).toBe("ok");
    const id = (answer.apiKey as { id: string }).id;
    const read = await json("ApiKeyService", "GetApiKey", { id });
    expect((read.answer.apiKey as { expireTime: string }).expireTime).toBe("9999-12-31T23:59:59.999Z");
    expect(
      await outcomeOf(
        clients.keys.createApiKey({ name: "k", role: Role.VIEWER, expireTime: { seconds: MAX_S + 1n, nanos: 0 } }),
      ),
    ).toBe("invalid_argument");
  });
});

describe("RotateApiKey grace_period", () => {
  const durations = fc.record({
    seconds: fc.oneof(
      fc.constantFrom(0n, 1n, 2_592_000n, 2_592_001n, DURATION_MAX_S, DURATION_MAX_S + 1n, TWO_62, -TWO_62, -1n),
      fc.bigInt({ min: -10n, max: 2_600_000n }),
    ),
    nanos: fc.oneof(
      fc.constantFrom(0, 999_999_999, -999_999_999, 1_000_000_000, -1_000_000_000, -1),
      fc.integer({ min: -999_999_999, max: 999_999_999 }),
    ),
  });

  it("accepts 0 to 30 days of valid Duration and refuses the rest without rotating", async () => {
    const created = await clients.keys.createApiKey({ name: "rotated", role: Role.VIEWER });
    const id = created.apiKey?.id ?? "";
    const rotateTime = async () =>
      (await server.app.storage.reads.get<{ t: unknown }>(sql`SELECT rotate_time AS t FROM api_keys WHERE id = ${id}`))
        ?.t;
    await fc.assert(
      fc.asyncProperty(durations, fc.boolean(), async (d, jsonWanted) => {
        const overJson = jsonWanted && expressibleInJson(d);
        server.clock.advance(1);
        const before = await rotateTime();
        const outcome = overJson
          ? (await json("ApiKeyService", "RotateApiKey", { id, gracePeriod: durationText(d) })).outcome
          : await outcomeOf(clients.keys.rotateApiKey({ id, gracePeriod: d }));
        const ms = durationMsOf(d);
        const accepted = durationValid(d) && ms >= 0 && ms <= 30 * DAY_MS;
        expect(outcome).toBe(accepted ? "ok" : "invalid_argument");
        if (!accepted) expect(await rotateTime()).toEqual(before);
      }),
      RUNS,
    );
    await listAllKeysJson();
  });
});

describe("CreateEvent and UpdateEvent times", () => {
  const eventBody = (start: Ts, end: Ts) => ({ title: "bounds", startTime: start, endTime: end });

  it("a one-off event is created exactly when both times are in range and ordered, and reads back", async () => {
    await fc.assert(
      fc.asyncProperty(timestamps, timestamps, fc.boolean(), async (start, end, overJson) => {
        const before = await count("events");
        const outcome = overJson
          ? (
              await json("EventAdminService", "CreateEvent", {
                event: { title: "bounds", startTime: timestampText(start), endTime: timestampText(end) },
              })
            ).outcome
          : await outcomeOf(clients.admin.createEvent({ event: eventBody(start, end) }));
        const accepted = timestampValid(start) && timestampValid(end) && msOf(end) > msOf(start);
        expect(outcome).toBe(accepted ? "ok" : "invalid_argument");
        expect(await count("events")).toBe(before + (accepted ? 1 : 0));
      }),
      RUNS,
    );
    await listAllEventsJson();
  });

  it("the first and last instants are accepted and read back over JSON to the millisecond", async () => {
    const created = await json("EventAdminService", "CreateEvent", {
      event: { title: "all of time", startTime: "0001-01-01T00:00:00Z", endTime: "9999-12-31T23:59:59.999999999Z" },
    });
    expect(created.outcome).toBe("ok");
    const id = (created.answer.event as { id: string }).id;
    const read = await json("EventService", "GetEvent", { id });
    expect(read.answer.event).toMatchObject({
      startTime: "0001-01-01T00:00:00Z",
      endTime: "9999-12-31T23:59:59.999Z",
    });
  });

  it("UpdateEvent refuses an out-of-range end_time and leaves the event as it was", async () => {
    const now = server.clock.now();
    const created = await clients.admin.createEvent({
      event: {
        title: "to update",
        startTime: { seconds: BigInt(Math.floor(now / 1000)) + 3600n },
        endTime: { seconds: MAX_S },
      },
    });
    const id = created.event?.id ?? "";
    const start = BigInt(Math.floor(now / 1000)) + 3600n;
    await fc.assert(
      fc.asyncProperty(timestamps, async (end) => {
        const version = async () =>
          (await server.app.storage.reads.get<{ v: number }>(sql`SELECT version AS v FROM events WHERE id = ${id}`))?.v;
        const before = await version();
        const outcome = await outcomeOf(
          clients.admin.updateEvent({ event: { id, endTime: end }, updateMask: { paths: ["end_time"] } }),
        );
        const accepted = timestampValid(end) && msOf(end) > Number(start) * 1000;
        expect(outcome).toBe(accepted ? "ok" : "invalid_argument");
        expect(await version()).toBe((before ?? 0) + (accepted ? 1 : 0));
      }),
      RUNS,
    );
    expect((await json("EventService", "GetEvent", { id })).outcome).toBe("ok");
  });

  it("a recurring event whose first run would end after 9999 is refused; one that ends by then is readable", async () => {
    const runDurations = fc.record({
      seconds: fc.oneof(
        fc.constantFrom(1n, 86_400n, 366n * 86_400n, DURATION_MAX_S + 1n, TWO_62, -TWO_62),
        fc.bigInt({ min: 1n, max: 3n * 86_400n }),
      ),
      nanos: fc.constantFrom(0, 999_999_999, -1, 1_000_000_000),
    });
    const starts = fc.oneof(
      fc.constantFrom(MAX_S - 86_400n, MAX_S, MAX_S + 1n),
      fc.bigInt({ min: MAX_S - 3n * 86_400n, max: MAX_S }),
    );
    await fc.assert(
      fc.asyncProperty(starts, runDurations, async (startSeconds, d) => {
        const before = await count("events");
        const outcome = await outcomeOf(
          clients.admin.createEvent({
            event: {
              title: "recurring at the end of time",
              startTime: { seconds: startSeconds },
              recurrence: { rule: "FREQ=DAILY;COUNT=1", runDuration: d },
            },
          }),
        );
        const ms = durationMsOf(d);
        const accepted =
          startSeconds <= MAX_S &&
          durationValid(d) &&
          ms > 0 &&
          ms <= 366 * DAY_MS &&
          Number(startSeconds) * 1000 + ms <= Number(MAX_S) * 1000 + 999;
        expect(outcome).toBe(accepted ? "ok" : "invalid_argument");
        expect(await count("events")).toBe(before + (accepted ? 1 : 0));
      }),
      { numRuns: 40 },
    );
    await listAllEventsJson();
  });

  it("an update of run_duration alone cannot make the first run end after 9999", async () => {
    const startTime = { seconds: MAX_S - 86_400n + 1n };
    const created = await clients.admin.createEvent({
      event: { title: "late", startTime, recurrence: { rule: "FREQ=DAILY;COUNT=1", runDuration: { seconds: 3600n } } },
    });
    const id = created.event?.id ?? "";
    const update = (seconds: bigint) =>
      outcomeOf(
        clients.admin.updateEvent({
          event: { id, recurrence: { rule: "FREQ=DAILY;COUNT=1", runDuration: { seconds } } },
          updateMask: { paths: ["recurrence"] },
        }),
      );
    expect(await update(86_400n)).toBe("invalid_argument");
    expect(await update(86_399n)).toBe("ok");
    const read = await json("EventService", "GetEvent", { id });
    expect(read.answer.event).toMatchObject({ endTime: "9999-12-31T23:59:59Z", recurrence: { runDuration: "86399s" } });
  });

  it("UNTIL names a date that exists, or the rule is refused", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2027, max: 2032 }),
        fc.integer({ min: 1, max: 13 }),
        fc.integer({ min: 28, max: 32 }),
        async (year, month, day) => {
          const until = `${year}${String(month).padStart(2, "0")}${String(day).padStart(2, "0")}`;
          const date = new Date(Date.UTC(year, month - 1, day));
          const exists = month <= 12 && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
          const { outcome, answer } = await json("EventAdminService", "CreateEvent", {
            event: {
              title: "until",
              startTime: "2027-01-01T00:00:00Z",
              recurrence: { rule: `FREQ=YEARLY;UNTIL=${until}`, runDuration: "3600s" },
            },
          });
          expect(outcome, JSON.stringify(answer)).toBe(exists ? "ok" : "invalid_argument");
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe("filters by time", () => {
  it("ListEventRuns and ListAuditEntries refuse out-of-range bounds and answer in-range ones", async () => {
    const event = await clients.admin.createEvent({
      event: { title: "runs", startTime: { seconds: 1_900_000_000n }, endTime: { seconds: 1_900_003_600n } },
    });
    const id = event.event?.id ?? "";
    await fc.assert(
      fc.asyncProperty(timestamps, fc.boolean(), async (t, asStart) => {
        const bound = asStart ? { startTime: t } : { endTime: t };
        const expected = timestampValid(t) ? "ok" : "invalid_argument";
        expect(await outcomeOf(clients.events.listEventRuns({ eventId: id, ...bound }))).toBe(expected);
        expect(await outcomeOf(clients.audit.listAuditEntries(bound))).toBe(expected);
        const text = asStart ? { startTime: timestampText(t) } : { endTime: timestampText(t) };
        expect((await json("EventService", "ListEventRuns", { eventId: id, ...text })).outcome).toBe(expected);
        expect((await json("AuditService", "ListAuditEntries", text)).outcome).toBe(expected);
      }),
      { numRuns: 40 },
    );
  });
});

describe("rows written before the bounds were enforced", () => {
  it("are read clamped: ListEvents, WatchEvents and ListApiKeys over JSON keep working for everyone", async () => {
    const now = server.clock.now();
    const created = await clients.admin.createEvent({
      event: {
        title: "from an older version",
        startTime: { seconds: BigInt(Math.floor(now / 1000)) + 60n },
        endTime: { seconds: BigInt(Math.floor(now / 1000)) + 120n },
      },
    });
    const id = created.event?.id ?? "";
    const key = await clients.keys.createApiKey({ name: "older", role: Role.VIEWER });
    const beyond = 300_000_000_000_000; // year 11476
    await server.app.storage.withTransaction(async (tx) => {
      await tx.run(sql`UPDATE events SET end_time = ${beyond} WHERE id = ${id}`);
      await tx.run(sql`UPDATE event_runs SET end_time = ${beyond} WHERE event_id = ${id}`);
      await tx.run(sql`UPDATE api_keys SET expire_time = ${beyond} WHERE id = ${key.apiKey?.id ?? ""}`);
    });

    const events = await listAllEventsJson();
    expect(events.find((e) => e.id === id)).toMatchObject({ endTime: "9999-12-31T23:59:59.999Z" });
    const keys = await listAllKeysJson();
    expect(keys.find((k) => k.id === key.apiKey?.id)).toMatchObject({ expireTime: "9999-12-31T23:59:59.999Z" });

    const viewer = createClient(
      EventService,
      createConnectTransport({
        baseUrl: server.baseUrl,
        httpVersion: "1.1",
        interceptors: [bearer(server.keys.viewer)],
      }),
    );
    const watch = watchEvents(viewer, { includeCurrent: true });
    await watch.synced();
    await eventually(() => watch.messages.some((m) => m.event?.id === id), "the event in the snapshot");
    expect(watch.error).toBeUndefined();
    await watch.stop();
  });
});

describe("the keys CLI", () => {
  let backend: Record<string, string> = {};
  beforeAll(async () => {
    backend = await backendEnv(server.dbPath);
  });
  const run = (...args: string[]) => {
    try {
      execFileSync(process.execPath, ["--import", "tsx", "src/keys/cli.ts", ...args], {
        env: { ...process.env, ...backend },
        encoding: "utf8",
        stdio: "pipe",
      });
      return "ok";
    } catch (err) {
      return String((err as { stderr?: string }).stderr).split("\n")[0];
    }
  };

  it("refuses numbers that are not plain decimals instead of reading them as something else", async () => {
    expect(run("create", "--role", "viewer", "--name", "x", "--expires-in-days", "1e3")).toMatch(/--expires-in-days/);
    const id = (await clients.keys.createApiKey({ name: "cli", role: Role.VIEWER })).apiKey?.id ?? "";
    expect(run("rotate", id, "--grace-hours", "1e-7")).toMatch(/--grace-hours/);
  });
});

describe("the bounds module on its own", () => {
  it("reads a stored value outside the range clamped to it, warning once per kind", () => {
    const warnings: string[] = [];
    const warn = warnOncePerKind((message) => warnings.push(message));
    expect(timestampFromStoredMs(TIMESTAMP_MAX_MS, warn)).toMatchObject({ seconds: MAX_S, nanos: 999_000_000 });
    expect(warnings).toEqual([]);
    expect(timestampFromStoredMs(2 ** 62, warn)).toMatchObject({ seconds: MAX_S, nanos: 999_000_000 });
    expect(timestampFromStoredMs(-(2 ** 62), warn)).toMatchObject({ seconds: MIN_S, nanos: 0 });
    expect(durationFromStoredMs(1e300, warn)).toMatchObject({ seconds: DURATION_MAX_S, nanos: 999_000_000 });
    expect(warnings).toHaveLength(2);
  });

  it("an iCalendar date must exist on the calendar and lie in the range", () => {
    expect(parseBasicUtc("20300228")).toBe(Date.UTC(2030, 1, 28));
    expect(parseBasicUtc("99991231T235959Z")).toBe(Number(MAX_S) * 1000);
    for (const text of ["20300230", "20290229", "20301301", "20300101T240000Z", "00001231", "2030022"]) {
      expect(parseBasicUtc(text), text).toBeUndefined();
    }
  });
});
