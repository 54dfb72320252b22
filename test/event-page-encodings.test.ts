// ListEvents pages are assembled from what is kept per event version and state (src/events/event-views.ts,
// event-page-encoding.ts): whatever the protocol, a page's bytes must be exactly those the reflective serializer makes
// of the events as stored now — through updates, counters and status changes — and a page of kept events costs one
// query, a page of changed ones a query for the page, not one per event.
import { connect as http2Connect } from "node:http2";
import {
  create,
  fromBinary,
  fromJsonString,
  type MessageInitShape,
  toBinary,
  toJson,
  toJsonString,
} from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import { CounterService } from "../gen/liveops/v1/counter_service_pb.js";
import { EventStatus } from "../gen/liveops/v1/event_pb.js";
import {
  EventStatusCountSchema,
  type ListEventsRequestSchema as ListEventsRequestDesc,
  ListEventsRequestSchema,
  type ListEventsResponse,
  ListEventsResponseSchema,
} from "../gen/liveops/v1/event_service_pb.js";
import { PlayerService } from "../gen/liveops/v1/player_service_pb.js";
import { EVENT_STATUSES } from "../src/events/event-list-store.js";
import { type EventRow, type EventState, eventStateAt, type RunRow, rowToEvent } from "../src/events/event-record.js";
import { RUN_COLUMNS, runOf } from "../src/events/event-runs.js";
import { EVENT_COLUMNS } from "../src/events/event-store.js";
import { playerVisible } from "../src/players/player-view.js";
import { bearer, connectClients, type EventClients } from "./support/clients.js";
import { rawRequest } from "./support/raw-request.js";
import { startTestServer, TEST_PLAYER, type TestServer } from "./support/server.js";

const MINUTE = 60_000;
const JSON_OPTIONS = { alwaysEmitImplicit: true };
const LIST = "/liveops.v1.EventService/ListEvents";

let server: TestServer;
let operator: EventClients;
beforeAll(async () => {
  server = await startTestServer();
  operator = connectClients(server.baseUrl, server.keys.operator);
  const transport = createConnectTransport({
    baseUrl: server.baseUrl,
    httpVersion: "1.1",
    interceptors: [bearer(server.keys.operator)],
  });
  // The test's player is in the audience "vips", so it sees every event of this file (without their audiences).
  await createClient(AudienceService, transport).createAudience({
    audience: { name: "vips", expression: "player.properties.vip == true" },
  });
  await createClient(PlayerService, transport).setPlayerProperties({
    playerId: TEST_PLAYER,
    properties: { vip: { kind: { case: "boolValue", value: true } } },
  });
});
afterAll(() => server.close());

type ListRequest = MessageInitShape<typeof ListEventsRequestDesc>;

/** A gRPC (or gRPC-Web) message frame. */
function frame(bytes: Uint8Array): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([header, bytes]);
}

/** The message of the first frame of a gRPC (or gRPC-Web) body. */
function firstMessage(body: Buffer): Buffer {
  expect(body[0]).toBe(0);
  return body.subarray(5, 5 + body.readUInt32BE(1));
}

/** A gRPC call over h2c with exactly these bytes; the response's first message, exactly as sent. */
function grpcCall(key: string, message: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(server.baseUrl);
    session.on("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": LIST,
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${key}`,
    });
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("trailers", (trailers) => {
      if (trailers["grpc-status"] !== "0") reject(new Error(`grpc-status ${trailers["grpc-status"]}`));
    });
    stream.on("end", () => {
      session.close();
      resolve(firstMessage(Buffer.concat(chunks)));
    });
    stream.on("error", reject);
    stream.end(frame(message));
  });
}

/** The bytes of one ListEvents page, exactly as sent, on each protocol: JSON ones and binary ones. */
async function rawPages(
  key: string,
  init: ListRequest,
): Promise<{ json: Record<string, Buffer>; binary: Record<string, Buffer> }> {
  const req = create(ListEventsRequestSchema, init);
  const json = JSON.stringify(toJson(ListEventsRequestSchema, req));
  const auth = { authorization: `Bearer ${key}` };
  const post = async (contentType: string, body: Uint8Array | string) => {
    const res = await rawRequest(`${server.baseUrl}${LIST}`, "POST", { ...auth, "content-type": contentType }, body);
    expect(res.status, res.body.toString()).toBe(200);
    return res.body;
  };
  const get = await rawRequest(
    `${server.baseUrl}${LIST}?encoding=json&message=${encodeURIComponent(json)}`,
    "GET",
    auth,
  );
  expect(get.status, get.body.toString()).toBe(200);
  return {
    json: { "Connect JSON": await post("application/json", json), "Connect GET": get.body },
    binary: {
      "Connect binary": await post("application/proto", toBinary(ListEventsRequestSchema, req)),
      "gRPC-Web": firstMessage(await post("application/grpc-web+proto", frame(toBinary(ListEventsRequestSchema, req)))),
      gRPC: await grpcCall(key, toBinary(ListEventsRequestSchema, req)),
    },
  };
}

/**
 * The page every event of the database makes now, built apart from the server's kept views: each stored row and its
 * first two runs ending after now through the record's own functions, as a player sees it or not.
 */
async function expectedPage(
  reader: "everyone" | "player",
  init: ListRequest,
  token: string,
): Promise<ListEventsResponse> {
  const now = server.clock.now();
  const reads = server.app.storage.reads;
  const rows = await reads.all<EventRow>(sql`SELECT ${EVENT_COLUMNS} FROM events ORDER BY start_time, id`);
  const states: EventState[] = [];
  for (const row of rows) {
    const runs = (
      await reads.all<Parameters<typeof runOf>[0]>(sql`
        SELECT ${RUN_COLUMNS} FROM event_runs WHERE event_id = ${row.id} AND end_time > ${now}
        ORDER BY end_time LIMIT 2`)
    ).map(runOf) as RunRow[];
    const state = eventStateAt(row, runs, now);
    const counters = await reads.all<{ name: string; value: number | string }>(
      sql`SELECT name, value FROM event_counters WHERE event_id = ${row.id} ORDER BY name`,
    );
    if (counters.length > 0) state.counters = Object.fromEntries(counters.map((c) => [c.name, BigInt(c.value)]));
    states.push(state);
  }
  const events = rows.map((row, i) => {
    const event = rowToEvent(row, states[i] as EventState);
    return reader === "player" ? playerVisible(event) : event;
  });
  const size = init.pageSize ?? 0;
  return create(ListEventsResponseSchema, {
    events: size > 0 ? events.slice(0, size) : events,
    nextPageToken: token,
    ...(init.includeCounts && {
      totalSize: rows.length,
      statusCounts: EVENT_STATUSES.map((status) =>
        create(EventStatusCountSchema, { status, count: states.filter((s) => s.status === status).length }),
      ),
    }),
  });
}

/** Every protocol's page, as everyone and as the player, whole and in a first page of two with counts. */
async function expectPagesAsStored(): Promise<ListEventsResponse> {
  let whole: ListEventsResponse | undefined;
  for (const [reader, key] of [
    ["everyone", server.keys.viewer],
    ["player", server.keys.player],
  ] as const) {
    for (const init of [{ pageSize: 100 }, { pageSize: 2, includeCounts: true }]) {
      const pages = await rawPages(key, init);
      const sent = fromJsonString(ListEventsResponseSchema, (pages.json["Connect JSON"] as Buffer).toString());
      const expected = await expectedPage(reader, init, sent.nextPageToken);
      for (const [protocol, body] of Object.entries(pages.json)) {
        expect(body.toString(), `${reader}, ${protocol}`).toBe(
          toJsonString(ListEventsResponseSchema, expected, JSON_OPTIONS),
        );
      }
      for (const [protocol, body] of Object.entries(pages.binary)) {
        expect(
          Buffer.from(body).equals(Buffer.from(toBinary(ListEventsResponseSchema, expected))),
          `${reader}, ${protocol}`,
        ).toBe(true);
        expect(fromBinary(ListEventsResponseSchema, body)).toEqual(expected);
      }
      if (reader === "everyone" && init.pageSize === 100) whole = expected;
    }
  }
  return whole as ListEventsResponse;
}

/** How many times each operation of the event store ran, from /metrics. */
async function storeOperations(): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const [, operation, count] of text.matchAll(
    /^liveops_db_operation_duration_seconds_count\{store="events",operation="(\w+)"\} (\d+)$/gm,
  )) {
    counts[operation as string] = Number(count);
  }
  return counts;
}

describe("ListEvents pages assembled from kept events", () => {
  it("are byte for byte the reflective serializer's of the events as stored, through updates, counters and status changes", async () => {
    const now = server.clock.now();
    const at = (minutes: number) => timestampFromMs(now + minutes * MINUTE);
    const created = await operator.admin.createEvent({
      event: {
        title: 'One-off "quoted" é 😀',
        description: "line\nbreak \u0001 control, </script>",
        startTime: at(1),
        endTime: at(2),
        rewards: [{ id: "gems", name: "Gems", quantity: 250n }],
        metadata: { theme: "winter", level: 1.5, regions: ["eu", null, true], nested: { deep: "ü" } },
      },
    });
    const oneOff = created.event?.id ?? "";
    await operator.admin.createEvent({
      event: {
        title: "Hourly for vips",
        startTime: at(1),
        recurrence: { rule: "FREQ=HOURLY;COUNT=3", runDuration: { seconds: 600n } },
        audiences: ["vips"],
      },
    });
    const live = (await operator.admin.createEvent({ event: { title: "Live", startTime: at(-1), endTime: at(30) } }))
      .event?.id;
    // By title: the one-off and the hourly event start together, in the order of their (random) ids.
    const statuses = (page: ListEventsResponse) => Object.fromEntries(page.events.map((e) => [e.title, e.status]));

    expect(statuses(await expectPagesAsStored())).toEqual({
      Live: EventStatus.ACTIVE,
      'One-off "quoted" é 😀': EventStatus.UPCOMING,
      "Hourly for vips": EventStatus.UPCOMING,
    });
    server.clock.advance(MINUTE);
    expect(Object.values(statuses(await expectPagesAsStored()))).toEqual([
      EventStatus.ACTIVE,
      EventStatus.ACTIVE,
      EventStatus.ACTIVE,
    ]);
    await operator.admin.updateEvent({ event: { id: oneOff, title: "Renamed" }, updateMask: { paths: ["title"] } });
    await createClient(
      CounterService,
      createConnectTransport({
        baseUrl: server.baseUrl,
        httpVersion: "1.1",
        interceptors: [bearer(server.keys.admin)],
      }),
    ).incrementCounter({ eventId: live, name: "kills", delta: 3n });
    const updated = await expectPagesAsStored();
    expect(updated.events.map((e) => e.title)).toContain("Renamed");
    expect(updated.events.find((e) => e.id === live)?.counters).toEqual({ kills: 3n });
    server.clock.advance(MINUTE);
    // The one-off has ended; the hourly event's first run (10 minutes) goes on.
    expect(statuses(await expectPagesAsStored())).toEqual({
      Live: EventStatus.ACTIVE,
      Renamed: EventStatus.ENDED,
      "Hourly for vips": EventStatus.ACTIVE,
    });
    server.clock.advance(10 * MINUTE);
    expect(statuses(await expectPagesAsStored())["Hourly for vips"]).toBe(EventStatus.BETWEEN_RUNS);
  });

  it("cost one query a page when their events are kept, and one query for the page's rows and one for their states when not", async () => {
    const now = server.clock.now();
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const event = {
        title: `kept ${i}`,
        startTime: timestampFromMs(now + (i + 1) * MINUTE),
        endTime: timestampFromMs(now + 60 * MINUTE),
      };
      ids.push((await operator.admin.createEvent({ event })).event?.id ?? "");
    }
    const { events } = connectClients(server.baseUrl, server.keys.viewer);
    await events.listEvents({ pageSize: 50 });
    const before = await storeOperations();
    await events.listEvents({ pageSize: 50 });
    await events.listEvents({ pageSize: 50 });
    const kept = await storeOperations();
    expect(kept.listEvents).toBe((before.listEvents ?? 0) + 2);
    expect([kept.listEventRows, kept.statesAt]).toEqual([before.listEventRows, before.statesAt]);

    // Three events change: the next page reads the page's rows and the changed events' states once each.
    for (const id of ids.slice(0, 3)) {
      await operator.admin.updateEvent({ event: { id, title: `changed ${id}` }, updateMask: { paths: ["title"] } });
    }
    const page = await events.listEvents({ pageSize: 50 });
    expect(page.events.filter((e) => e.title.startsWith("changed"))).toHaveLength(3);
    const changed = await storeOperations();
    expect([changed.listEvents, changed.listEventRows, changed.statesAt]).toEqual([
      (kept.listEvents ?? 0) + 1,
      (kept.listEventRows ?? 0) + 1,
      (kept.statesAt ?? 0) + 1,
    ]);
  });
});
