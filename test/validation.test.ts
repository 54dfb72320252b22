import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import type { Event, EventSchema, EventStatus } from "../gen/liveops/v1/event_pb.js";
import { codeOf, connectClients, type EventClients } from "./support/clients.js";
import { startTestServer, type TestServer } from "./support/server.js";

let server: TestServer;
let client: EventClients;
beforeAll(async () => {
  server = await startTestServer();
  client = connectClients(server.baseUrl, server.keys.operator);
});
afterAll(() => server.close());

const HOUR = 3_600_000;
/** The plain-object form of an Event init. */
type EventInit = Exclude<MessageInitShape<typeof EventSchema>, Event>;

function validEvent(overrides: Partial<EventInit> = {}): EventInit {
  const now = server.clock.now();
  return {
    title: "Spring sprint",
    startTime: timestampFromMs(now + HOUR),
    endTime: timestampFromMs(now + 2 * HOUR),
    rewards: [{ id: "gems", name: "Gems", quantity: 10n }],
    ...overrides,
  };
}

/** The fields named by the BadRequest of an INVALID_ARGUMENT error; fails on any other outcome. */
async function violatedFields(call: Promise<unknown>): Promise<string[]> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err?.code, err?.message ?? "the call succeeded").toBe(Code.InvalidArgument);
  return (err?.findDetails(BadRequestSchema) ?? []).flatMap((d) => d.fieldViolations.map((v) => v.field));
}

describe("CreateEvent validation", () => {
  const create = (event: EventInit | undefined, requestId = "") => client.admin.createEvent({ event, requestId });

  it("accepts a valid event", async () => {
    expect(await codeOf(create(validEvent()))).toBe("ok");
  });

  it.each<[string, Partial<EventInit>, string]>([
    ["an empty title", { title: "" }, "event.title"],
    ["a blank title", { title: "   " }, "event.title"],
    ["a title of 101 characters", { title: "x".repeat(101) }, "event.title"],
    ["a description of 1001 characters", { description: "d".repeat(1001) }, "event.description"],
    ["no start time", { startTime: undefined }, "event.start_time"],
    ["no end time", { endTime: undefined }, "event.end_time"],
    ["a timestamp out of range", { startTime: { seconds: 253402300800n, nanos: 0 } }, "event.start_time"],
    ["negative nanos", { endTime: { seconds: 1n, nanos: -1 } }, "event.end_time"],
    ["an end time equal to the start", { endTime: timestampFromMs(Date.UTC(2026, 5, 1, 13)) }, "event.end_time"],
    ["an end before the start", { endTime: timestampFromMs(Date.UTC(2026, 5, 1, 12, 30)) }, "event.end_time"],
    ["a reward id with a space", { rewards: [{ id: "a b", name: "A", quantity: 1n }] }, "event.rewards[0].id"],
    ["an empty reward id", { rewards: [{ id: "", name: "A", quantity: 1n }] }, "event.rewards[0].id"],
    ["a reward without a name", { rewards: [{ id: "a", name: "", quantity: 1n }] }, "event.rewards[0].name"],
    ["a zero quantity", { rewards: [{ id: "a", name: "A", quantity: 0n }] }, "event.rewards[0].quantity"],
    ["a negative quantity", { rewards: [{ id: "a", name: "A", quantity: -5n }] }, "event.rewards[0].quantity"],
    [
      "two rewards with one id",
      {
        rewards: [
          { id: "a", name: "A", quantity: 1n },
          { id: "a", name: "B", quantity: 1n },
        ],
      },
      "event.rewards[1].id",
    ],
    [
      "101 rewards",
      { rewards: Array.from({ length: 101 }, (_, i) => ({ id: `r${i}`, name: "R", quantity: 1n })) },
      "event.rewards",
    ],
    ["metadata over 16 KiB", { metadata: { blob: "m".repeat(17 * 1024) } }, "event.metadata"],
  ])("refuses %s", async (_name, overrides, field) => {
    expect(await violatedFields(create(validEvent(overrides)))).toEqual([field]);
  });

  it("counts characters, not bytes or UTF-16 units, in the title", async () => {
    expect(await codeOf(create(validEvent({ title: "🎉".repeat(100) })))).toBe("ok");
    expect(await violatedFields(create(validEvent({ title: "🎉".repeat(101) })))).toEqual(["event.title"]);
  });

  it("reports every violation at once", async () => {
    const fields = await violatedFields(
      create(validEvent({ title: "", description: "d".repeat(1001), endTime: undefined }), "has space"),
    );
    expect(fields.sort()).toEqual(["event.description", "event.end_time", "event.title", "request_id"]);
  });

  it("requires the event", async () => {
    expect(await violatedFields(create(undefined))).toEqual(["event"]);
  });

  it("stores nothing when it refuses", async () => {
    const before = (await client.events.listEvents({ pageSize: 500 })).events.length;
    await violatedFields(create(validEvent({ title: "" })));
    expect((await client.events.listEvents({ pageSize: 500 })).events.length).toBe(before);
  });
});

describe("UpdateEvent validation", () => {
  it("requires a well-formed event id", async () => {
    expect(await violatedFields(client.admin.updateEvent({ event: { title: "x" } }))).toEqual(["event.id"]);
    expect(await violatedFields(client.admin.updateEvent({ event: { id: "42", title: "x" } }))).toEqual(["event.id"]);
  });

  it("refuses unknown and output-only paths in the update mask", async () => {
    const id = (await client.admin.createEvent({ event: validEvent() })).event?.id ?? "";
    for (const path of ["status", "id", "create_time", "bogus"]) {
      const call = client.admin.updateEvent({ event: { id, title: "x" }, updateMask: { paths: [path] } });
      expect(await violatedFields(call)).toEqual(["update_mask"]);
    }
  });

  it("refuses an update that names no field", async () => {
    const id = (await client.admin.createEvent({ event: validEvent() })).event?.id ?? "";
    expect(await violatedFields(client.admin.updateEvent({ event: { id } }))).toEqual(["update_mask"]);
  });

  it("checks the merged event: an end time moved before the start is refused", async () => {
    const created = (await client.admin.createEvent({ event: validEvent() })).event;
    const call = client.admin.updateEvent({
      event: { id: created?.id, endTime: timestampFromMs(server.clock.now()) },
      updateMask: { paths: ["end_time"] },
    });
    expect(await violatedFields(call)).toEqual(["event.end_time"]);
    const after = (await client.events.getEvent({ id: created?.id ?? "" })).event;
    expect(after?.etag).toBe(created?.etag);
  });

  it("clears a field named in the mask but unset in the event", async () => {
    const created = (await client.admin.createEvent({ event: validEvent({ description: "to clear" }) })).event;
    const updated = await client.admin.updateEvent({
      event: { id: created?.id },
      updateMask: { paths: ["description", "rewards"] },
    });
    expect(updated.event?.description).toBe("");
    expect(updated.event?.rewards).toEqual([]);
    expect(updated.event?.title).toBe(created?.title);
  });

  it("answers NOT_FOUND for an unknown id", async () => {
    const call = client.admin.updateEvent({ event: { id: crypto.randomUUID(), title: "x" } });
    expect(await codeOf(call)).toBe(Code.NotFound);
  });
});

describe("reads and deletes", () => {
  it("GetEvent refuses a malformed id and answers NOT_FOUND for an unknown one", async () => {
    expect(await violatedFields(client.events.getEvent({ id: "not-a-uuid" }))).toEqual(["id"]);
    expect(await violatedFields(client.events.getEvent({ id: "" }))).toEqual(["id"]);
    expect(await codeOf(client.events.getEvent({ id: crypto.randomUUID() }))).toBe(Code.NotFound);
  });

  it("DeleteEvent refuses a malformed id and answers NOT_FOUND for an unknown one", async () => {
    expect(await violatedFields(client.admin.deleteEvent({ id: "x" }))).toEqual(["id"]);
    expect(await codeOf(client.admin.deleteEvent({ id: crypto.randomUUID() }))).toBe(Code.NotFound);
  });

  it("ListEvents refuses a negative page size and an unknown status", async () => {
    expect(await violatedFields(client.events.listEvents({ pageSize: -1 }))).toEqual(["page_size"]);
    expect(await violatedFields(client.events.listEvents({ status: 99 as EventStatus }))).toEqual(["status"]);
  });

  it("GET /events/{id} answers 400 for a malformed id and 404 for an unknown one", async () => {
    const headers = { authorization: `Bearer ${server.keys.viewer}` };
    expect((await fetch(`${server.baseUrl}/events/nope`, { headers })).status).toBe(400);
    expect((await fetch(`${server.baseUrl}/events/${crypto.randomUUID()}`, { headers })).status).toBe(404);
    expect((await fetch(`${server.baseUrl}/events?page_size=abc`, { headers })).status).toBe(400);
    expect((await fetch(`${server.baseUrl}/events`, { method: "POST", headers })).status).toBe(405);
  });

  it("a malformed JSON body is INVALID_ARGUMENT and an unknown field is refused", async () => {
    const post = (body: string) =>
      fetch(`${server.baseUrl}/liveops.v1.EventAdminService/CreateEvent`, {
        method: "POST",
        headers: { authorization: `Bearer ${server.keys.operator}`, "content-type": "application/json" },
        body,
      });
    expect((await post("{not json")).status).toBe(400);
    expect((await post('{"event":{"titel":"typo"}}')).status).toBe(400);
  });
});
