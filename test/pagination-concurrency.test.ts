import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStatus } from "../gen/liveops/v1/event_pb.js";
import { codeOf, connectClients, type EventClients, eventClients, transportsFor } from "./support/clients.js";
import { startTestServer, type TestServer } from "./support/server.js";

let server: TestServer;
let client: EventClients;
beforeAll(async () => {
  server = await startTestServer();
  client = connectClients(server.baseUrl, server.keys.operator);
});
afterAll(() => server.close());

const MINUTE = 60_000;
const HOUR_MS = 60 * MINUTE;

async function createAt(startOffsetMinutes: number, title = `at ${startOffsetMinutes}`) {
  const start = server.clock.now() + startOffsetMinutes * MINUTE;
  const res = await client.admin.createEvent({
    event: { title, startTime: timestampFromMs(start), endTime: timestampFromMs(start + 30 * MINUTE) },
  });
  return res.event?.id ?? "";
}

describe("ListEvents pagination", () => {
  it("walks every event once, in start time then id order, while events are inserted", async () => {
    const older: string[] = [];
    // Several events share a start time, so the id breaks ties.
    for (let i = 0; i < 37; i++) older.push(await createAt(Math.floor(i / 3) - 5));

    const seen: string[] = [];
    const starts: number[] = [];
    let pageToken = "";
    let inserted = 0;
    do {
      const page = await client.events.listEvents({ pageSize: 4, pageToken });
      for (const e of page.events) {
        seen.push(e.id);
        starts.push(e.startTime ? timestampMs(e.startTime) : Number.NaN);
      }
      pageToken = page.nextPageToken;
      // Inserts before, inside and after the part already walked.
      await createAt([-100, 0, 100][inserted++ % 3] ?? 0, "inserted while paging");
    } while (pageToken !== "");

    expect(new Set(seen).size).toBe(seen.length);
    for (const id of older) expect(seen).toContain(id);
    const order = seen.map((id, i) => [starts[i] ?? 0, id] as const);
    const sorted = [...order].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
    expect(order).toEqual(sorted);
  });

  it("defaults to 50 per page and caps at 500", async () => {
    const total = (await client.events.listEvents({ pageSize: 500 })).events.length;
    while ((await client.events.listEvents({ pageSize: 500 })).events.length < 60) await createAt(500);
    expect((await client.events.listEvents({})).events).toHaveLength(50);
    expect(total).toBeLessThanOrEqual(500);
    const capped = await client.events.listEvents({ pageSize: 100_000 });
    expect(capped.events.length).toBeLessThanOrEqual(500);
  });

  it("filters by status on every page", async () => {
    const live = await createAt(-10);
    let pageToken = "";
    const ids: string[] = [];
    do {
      const page = await client.events.listEvents({ status: EventStatus.ACTIVE, pageSize: 2, pageToken });
      for (const e of page.events) expect(e.status).toBe(EventStatus.ACTIVE);
      ids.push(...page.events.map((e) => e.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(ids).toContain(live);
    const upcoming = await client.events.listEvents({ status: EventStatus.UPCOMING, pageSize: 500 });
    expect(upcoming.events.every((e) => e.status === EventStatus.UPCOMING)).toBe(true);
    expect(upcoming.events.map((e) => e.id)).not.toContain(live);
  });

  it("refuses a tampered token, a made-up token, and a token of another filter", async () => {
    const page = await client.events.listEvents({ pageSize: 1 });
    const token = page.nextPageToken;
    expect(token).not.toBe("");
    const [body, mac] = token.split(".");
    const cursor = JSON.parse(Buffer.from(body ?? "", "base64url").toString());
    const forged = `${Buffer.from(JSON.stringify({ ...cursor, startTime: 0 })).toString("base64url")}.${mac}`;
    const flipped = `${token.slice(0, 3)}${token[3] === "A" ? "B" : "A"}${token.slice(4)}`;
    const macFlipped = token.slice(0, -1) + (token.endsWith("A") ? "B" : "A");
    for (const bad of [forged, flipped, macFlipped, "garbage", "a.b.c", `${token}.x`]) {
      expect(await codeOf(client.events.listEvents({ pageSize: 1, pageToken: bad }))).toBe(Code.InvalidArgument);
    }
    const otherFilter = client.events.listEvents({ pageSize: 1, pageToken: token, status: EventStatus.ENDED });
    expect(await codeOf(otherFilter)).toBe(Code.InvalidArgument);
  });
});

describe("concurrency", () => {
  it("two updates with the same etag: exactly one succeeds, the other is ABORTED", async () => {
    const created = (
      await client.admin.createEvent({
        event: {
          title: "race",
          startTime: timestampFromMs(server.clock.now()),
          endTime: timestampFromMs(server.clock.now() + MINUTE),
        },
      })
    ).event;
    // Two different protocols and connections, so the calls really overlap.
    const a = eventClients(transportsFor(server.baseUrl, server.keys.operator)["gRPC (h2c)"]);
    const b = eventClients(transportsFor(server.baseUrl, server.keys.operator)["Connect JSON over HTTP/1.1"]);
    const update = (c: EventClients, title: string) =>
      codeOf(
        c.admin.updateEvent({
          event: { id: created?.id, title, etag: created?.etag },
          updateMask: { paths: ["title"] },
        }),
      );
    const outcomes = await Promise.all([update(a, "first"), update(b, "second")]);
    expect(outcomes.sort()).toEqual([Code.Aborted, "ok"].sort());
    // A stale etag on delete is refused too, and the event stays.
    expect(await codeOf(client.admin.deleteEvent({ id: created?.id ?? "", etag: created?.etag ?? "" }))).toBe(
      Code.Aborted,
    );
    expect(await codeOf(client.events.getEvent({ id: created?.id ?? "" }))).toBe("ok");
  });

  it("a burst of retries of one CreateEvent request_id creates exactly one event", async () => {
    const requestId = crypto.randomUUID();
    const event = {
      title: "idempotent",
      startTime: timestampFromMs(server.clock.now() + 7 * MINUTE),
      endTime: timestampFromMs(server.clock.now() + 8 * MINUTE),
      metadata: { a: 1, b: [true, "x"] },
    };
    const transports = Object.values(transportsFor(server.baseUrl, server.keys.operator));
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        eventClients(transports[i % transports.length]).admin.createEvent({ event, requestId }),
      ),
    );
    const ids = new Set(results.map((r) => r.event?.id));
    expect(ids.size).toBe(1);
    const all = [];
    let pageToken = "";
    do {
      const page = await client.events.listEvents({ pageSize: 500, pageToken });
      all.push(...page.events);
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(all.filter((e) => e.title === "idempotent")).toHaveLength(1);
  });

  it("the same request_id with a different event is ALREADY_EXISTS", async () => {
    const requestId = crypto.randomUUID();
    const event = {
      title: "first",
      startTime: timestampFromMs(server.clock.now()),
      endTime: timestampFromMs(server.clock.now() + MINUTE),
    };
    await client.admin.createEvent({ event, requestId });
    const again = client.admin.createEvent({ event: { ...event, title: "second" }, requestId });
    expect(await codeOf(again)).toBe(Code.AlreadyExists);
  });
});

describe("pages of large events", () => {
  it("end early to stay under the message limit, and the walk still returns every event", async () => {
    const small = await startTestServer({ MAX_MESSAGE_BYTES: String(256 * 1024) });
    try {
      const { admin, events } = connectClients(small.baseUrl, small.keys.operator);
      const now = small.clock.now();
      const created = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const res = await admin.createEvent({
          event: {
            title: `big ${i}`,
            startTime: timestampFromMs(now + i),
            endTime: timestampFromMs(now + HOUR_MS),
            metadata: { blob: "é".repeat(7000) },
          },
        });
        created.add(res.event?.id ?? "");
      }
      const seen: string[] = [];
      let pageToken = "";
      let pages = 0;
      do {
        const page = await events.listEvents({ pageSize: 500, pageToken });
        seen.push(...page.events.map((e) => e.id));
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken);
      expect(pages).toBeGreaterThan(1);
      expect(seen.sort()).toEqual([...created].sort());
      const rest = await fetch(`${small.baseUrl}/events`, {
        headers: { authorization: `Bearer ${small.keys.viewer}` },
      });
      expect(rest.status).toBe(200);
    } finally {
      await small.close();
    }
  });
});
