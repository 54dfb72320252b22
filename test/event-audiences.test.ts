import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import { AuditService } from "../gen/liveops/v1/audit_service_pb.js";
import { type Event, type EventSchema, EventStatus } from "../gen/liveops/v1/event_pb.js";
import { flag } from "../src/db/storage.js";
import { bearer, codeOf, connectClients, type EventClients } from "./support/clients.js";
import { startTestServer, type TestServer } from "./support/server.js";

let server: TestServer;
/** An operator's event clients. */
let operator: EventClients;
/** An admin's event clients: reads as the dashboard makes them. */
let admin: EventClients;
beforeAll(async () => {
  server = await startTestServer();
  operator = connectClients(server.baseUrl, server.keys.operator);
  admin = connectClients(server.baseUrl, server.keys.admin);
  for (const name of ["whales", "new-players", "eu_west", "churned", "cheaters"]) await createAudience(name);
});
afterAll(() => server.close());

const HOUR = 3_600_000;
type EventInit = Exclude<MessageInitShape<typeof EventSchema>, Event>;

const clientOf = <S extends typeof AudienceService | typeof AuditService>(service: S, key: string) =>
  createClient(
    service,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] }),
  );

async function createAudience(name: string): Promise<void> {
  await clientOf(AudienceService, server.keys.operator).createAudience({
    audience: { name, description: `the ${name}`, expression: "" },
  });
}

function deleteAudience(name: string): Promise<unknown> {
  return clientOf(AudienceService, server.keys.operator).deleteAudience({ name });
}

function validEvent(overrides: Partial<EventInit> = {}): EventInit {
  const now = server.clock.now();
  return {
    title: "Targeted sprint",
    startTime: timestampFromMs(now + HOUR),
    endTime: timestampFromMs(now + 2 * HOUR),
    ...overrides,
  };
}

async function createEvent(overrides: Partial<EventInit> = {}): Promise<Event> {
  const event = (await operator.admin.createEvent({ event: validEvent(overrides) })).event;
  if (!event) throw new Error("CreateEvent returned no event");
  return event;
}

/** The rows of event_audiences of an event, by audience name. */
async function storedAudiences(eventId: string): Promise<{ name: string; excluded: boolean }[]> {
  const rows = await server.app.storage.reads.all<{ audience_name: string; excluded: unknown }>(
    sql`SELECT audience_name, excluded FROM event_audiences WHERE event_id = ${eventId} ORDER BY audience_name`,
  );
  return rows.map((row) => ({ name: row.audience_name, excluded: flag(row.excluded) }));
}

/** The field violations (field and reason) of an INVALID_ARGUMENT error; fails on any other outcome. */
async function violationsOf(call: Promise<unknown>): Promise<{ field: string; reason: string; description: string }[]> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err?.code, err?.message ?? "the call succeeded").toBe(Code.InvalidArgument);
  return (err?.findDetails(BadRequestSchema) ?? []).flatMap((d) =>
    d.fieldViolations.map((v) => ({ field: v.field, reason: v.reason, description: v.description })),
  );
}

const fieldsAndReasons = async (call: Promise<unknown>) =>
  (await violationsOf(call)).map(({ field, reason }) => ({ field, reason }));

describe("an event's audiences", () => {
  it("are stored on create and shown to admins by CreateEvent, GetEvent and ListEvents", async () => {
    const created = await createEvent({ audiences: ["whales", "new-players"], excludedAudiences: ["cheaters"] });
    expect(created.audiences).toEqual(["whales", "new-players"]);
    expect(created.excludedAudiences).toEqual(["cheaters"]);

    const got = (await admin.events.getEvent({ id: created.id })).event;
    expect(got?.audiences).toEqual(["whales", "new-players"]);
    expect(got?.excludedAudiences).toEqual(["cheaters"]);
    const listed = (await admin.events.listEvents({ pageSize: 500 })).events.find((e) => e.id === created.id);
    expect(listed?.audiences).toEqual(["whales", "new-players"]);
    expect(listed?.excludedAudiences).toEqual(["cheaters"]);

    expect(await storedAudiences(created.id)).toEqual([
      { name: "cheaters", excluded: true },
      { name: "new-players", excluded: false },
      { name: "whales", excluded: false },
    ]);
  });

  it("are empty for an event created without them, which stores no rows", async () => {
    const created = await createEvent();
    expect(created.audiences).toEqual([]);
    expect(created.excludedAudiences).toEqual([]);
    expect(await storedAudiences(created.id)).toEqual([]);
  });

  it("change with an update mask, each list on its own, and clear when masked but empty", async () => {
    const created = await createEvent({ audiences: ["whales"], excludedAudiences: ["cheaters"] });
    const replaced = (
      await operator.admin.updateEvent({
        event: { id: created.id, audiences: ["eu_west", "new-players"] },
        updateMask: { paths: ["audiences"] },
      })
    ).event;
    expect(replaced?.audiences).toEqual(["eu_west", "new-players"]);
    expect(replaced?.excludedAudiences).toEqual(["cheaters"]);
    expect(await storedAudiences(created.id)).toEqual([
      { name: "cheaters", excluded: true },
      { name: "eu_west", excluded: false },
      { name: "new-players", excluded: false },
    ]);

    const cleared = (
      await operator.admin.updateEvent({
        event: { id: created.id },
        updateMask: { paths: ["excluded_audiences"] },
      })
    ).event;
    expect(cleared?.audiences).toEqual(["eu_west", "new-players"]);
    expect(cleared?.excludedAudiences).toEqual([]);
    expect(await storedAudiences(created.id)).toEqual([
      { name: "eu_west", excluded: false },
      { name: "new-players", excluded: false },
    ]);
    expect((await admin.events.getEvent({ id: created.id })).event?.excludedAudiences).toEqual([]);
  });

  it("are implied by an update without a mask when set, and left alone when empty", async () => {
    const created = await createEvent({ audiences: ["whales"], excludedAudiences: ["cheaters"] });
    const retitled = (await operator.admin.updateEvent({ event: { id: created.id, title: "Renamed" } })).event;
    expect(retitled?.audiences).toEqual(["whales"]);
    expect(retitled?.excludedAudiences).toEqual(["cheaters"]);
    const retargeted = (await operator.admin.updateEvent({ event: { id: created.id, audiences: ["churned"] } })).event;
    expect(retargeted?.audiences).toEqual(["churned"]);
    expect(retargeted?.excludedAudiences).toEqual(["cheaters"]);
    expect(retargeted?.title).toBe("Renamed");
  });

  it("can change while a run is live and after the event has ended", async () => {
    const created = await createEvent({ audiences: ["whales"] });
    server.clock.advance(HOUR + 1);
    const live = (
      await operator.admin.updateEvent({
        event: { id: created.id, audiences: ["whales", "eu_west"] },
        updateMask: { paths: ["audiences"] },
      })
    ).event;
    expect(live?.status).toBe(EventStatus.ACTIVE);
    expect(live?.audiences).toEqual(["whales", "eu_west"]);

    server.clock.advance(HOUR);
    const ended = (
      await operator.admin.updateEvent({
        event: { id: created.id, excludedAudiences: ["cheaters"] },
        updateMask: { paths: ["excluded_audiences"] },
      })
    ).event;
    expect(ended?.status).toBe(EventStatus.ENDED);
    expect(ended?.excludedAudiences).toEqual(["cheaters"]);
    expect(await storedAudiences(created.id)).toHaveLength(3);
  });

  it("appear in the audit entries of the create and of an update that changes them", async () => {
    const created = await createEvent({ audiences: ["whales"] });
    await operator.admin.updateEvent({
      event: { id: created.id, audiences: ["whales", "churned"], excludedAudiences: ["cheaters"] },
      updateMask: { paths: ["audiences", "excluded_audiences"] },
    });
    const { entries } = await clientOf(AuditService, server.keys.admin).listAuditEntries({
      targetId: created.id,
      pageSize: 10,
    });
    const [update, create] = entries;
    expect(create?.changes?.audiences).toEqual({ after: ["whales"] });
    expect(update?.changes).toEqual({
      audiences: { before: ["whales"], after: ["whales", "churned"] },
      excluded_audiences: { before: [], after: ["cheaters"] },
    });
  });

  it("make a CreateEvent retry with other audiences a different request", async () => {
    const requestId = `audiences-${randomUUID()}`;
    const event = validEvent({ audiences: ["whales"] });
    const first = (await operator.admin.createEvent({ event, requestId })).event;
    const retry = (await operator.admin.createEvent({ event, requestId })).event;
    expect(retry?.id).toBe(first?.id);
    const other = operator.admin.createEvent({ event: { ...event, audiences: ["churned"] }, requestId });
    expect(await codeOf(other)).toBe(Code.AlreadyExists);
  });
});

describe("the validation of an event's audiences", () => {
  const names = (n: number) => Array.from({ length: n }, (_, i) => `audience-${i}`);

  it.each<[string, Partial<EventInit>, { field: string; reason: string }[]]>([
    [
      "a name with an uppercase letter",
      { audiences: ["whales", "Whales"] },
      [{ field: "event.audiences[1]", reason: "INVALID_FORMAT" }],
    ],
    [
      "a name starting with a digit",
      { excludedAudiences: ["1st"] },
      [{ field: "event.excluded_audiences[0]", reason: "INVALID_FORMAT" }],
    ],
    ["an empty name", { audiences: [""] }, [{ field: "event.audiences[0]", reason: "INVALID_FORMAT" }]],
    [
      "a name of 65 characters",
      { audiences: [`a${"b".repeat(64)}`] },
      [{ field: "event.audiences[0]", reason: "INVALID_FORMAT" }],
    ],
    [
      "a name twice in one list",
      { audiences: ["whales", "churned", "whales"] },
      [{ field: "event.audiences[2]", reason: "DUPLICATE" }],
    ],
    [
      "a name twice in the excluded list",
      { excludedAudiences: ["cheaters", "cheaters"] },
      [{ field: "event.excluded_audiences[1]", reason: "DUPLICATE" }],
    ],
    ["21 audiences", { audiences: names(21) }, [{ field: "event.audiences", reason: "TOO_MANY" }]],
    [
      "21 excluded audiences",
      { excludedAudiences: names(21) },
      [{ field: "event.excluded_audiences", reason: "TOO_MANY" }],
    ],
    [
      "a name in both lists",
      { audiences: ["whales", "churned"], excludedAudiences: ["cheaters", "churned"] },
      [{ field: "event.excluded_audiences[1]", reason: "CONFLICT" }],
    ],
  ])("refuses %s on create", async (_name, overrides, expected) => {
    expect(await fieldsAndReasons(operator.admin.createEvent({ event: validEvent(overrides) }))).toEqual(expected);
  });

  it("accepts 20 names in each list, well formed and distinct (checked before their existence)", async () => {
    const event = validEvent({ audiences: names(20), excludedAudiences: names(40).slice(20) });
    const violations = await violationsOf(operator.admin.createEvent({ event }));
    expect(new Set(violations.map((v) => v.reason))).toEqual(new Set(["AUDIENCE_NOT_FOUND"]));
    expect(violations).toHaveLength(40);
  });

  it("refuses the same violations on update, with the mask's paths", async () => {
    const { id } = await createEvent();
    const call = operator.admin.updateEvent({
      event: { id, audiences: ["whales", "whales"], excludedAudiences: ["Bad"] },
      updateMask: { paths: ["audiences", "excluded_audiences"] },
    });
    expect(await fieldsAndReasons(call)).toEqual([
      { field: "event.audiences[1]", reason: "DUPLICATE" },
      { field: "event.excluded_audiences[0]", reason: "INVALID_FORMAT" },
    ]);
  });

  it("checks the merged event on update: a new audience already in the stored excluded list conflicts", async () => {
    const created = await createEvent({ excludedAudiences: ["cheaters"] });
    const call = operator.admin.updateEvent({
      event: { id: created.id, audiences: ["whales", "cheaters"] },
      updateMask: { paths: ["audiences"] },
    });
    expect(await fieldsAndReasons(call)).toEqual([{ field: "event.excluded_audiences[0]", reason: "CONFLICT" }]);
    expect((await admin.events.getEvent({ id: created.id })).event?.etag).toBe(created.etag);
  });

  it("accepts audiences and excluded_audiences as update mask paths", async () => {
    const { id } = await createEvent();
    for (const path of ["audiences", "excluded_audiences"]) {
      expect(await codeOf(operator.admin.updateEvent({ event: { id }, updateMask: { paths: [path] } }))).toBe("ok");
    }
  });
});

describe("an audience that does not exist", () => {
  it("is refused on create as INVALID_ARGUMENT AUDIENCE_NOT_FOUND, naming it, and nothing is stored", async () => {
    const before = (await admin.events.listEvents({ pageSize: 500 })).events.length;
    const call = operator.admin.createEvent({
      event: validEvent({ audiences: ["whales", "ghosts"], excludedAudiences: ["phantoms"] }),
    });
    const violations = await violationsOf(call);
    expect(violations.map(({ field, reason }) => ({ field, reason }))).toEqual([
      { field: "event.audiences[1]", reason: "AUDIENCE_NOT_FOUND" },
      { field: "event.excluded_audiences[0]", reason: "AUDIENCE_NOT_FOUND" },
    ]);
    expect(violations[0]?.description).toContain('"ghosts"');
    expect(violations[1]?.description).toContain('"phantoms"');
    expect((await admin.events.listEvents({ pageSize: 500 })).events.length).toBe(before);
  });

  it("is refused on create with a request id, which stays free for the corrected request", async () => {
    const requestId = `ghost-${randomUUID()}`;
    const refused = operator.admin.createEvent({ event: validEvent({ audiences: ["ghosts"] }), requestId });
    expect(await fieldsAndReasons(refused)).toEqual([{ field: "event.audiences[0]", reason: "AUDIENCE_NOT_FOUND" }]);
    const corrected = operator.admin.createEvent({ event: validEvent({ audiences: ["whales"] }), requestId });
    expect(await codeOf(corrected)).toBe("ok");
  });

  it("is refused on update, which changes nothing", async () => {
    const created = await createEvent({ audiences: ["whales"] });
    const call = operator.admin.updateEvent({
      event: { id: created.id, title: "Changed", audiences: ["whales", "ghosts"] },
      updateMask: { paths: ["title", "audiences"] },
    });
    const err = await call.then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(err?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("INVALID_ARGUMENT");
    expect(err?.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => [v.field, v.reason])).toEqual([
      ["event.audiences[1]", "AUDIENCE_NOT_FOUND"],
    ]);
    const after = (await admin.events.getEvent({ id: created.id })).event;
    expect(after?.etag).toBe(created.etag);
    expect(after?.title).toBe(created.title);
    expect(await storedAudiences(created.id)).toEqual([{ name: "whales", excluded: false }]);
  });
});

describe("deleting an event", () => {
  it("removes its audience rows, so that an audience it named can then be deleted", async () => {
    await createAudience("seasonal");
    const created = await createEvent({ audiences: ["seasonal"], excludedAudiences: ["cheaters"] });
    expect(await codeOf(deleteAudience("seasonal"))).toBe(Code.FailedPrecondition);
    await operator.admin.deleteEvent({ id: created.id });
    expect(await storedAudiences(created.id)).toEqual([]);
    expect(await codeOf(deleteAudience("seasonal"))).toBe("ok");
  });

  it("once an audience is deleted, events can no longer name it", async () => {
    await createAudience("short-lived");
    expect(await codeOf(deleteAudience("short-lived"))).toBe("ok");
    const call = operator.admin.createEvent({ event: validEvent({ audiences: ["short-lived"] }) });
    expect(await fieldsAndReasons(call)).toEqual([{ field: "event.audiences[0]", reason: "AUDIENCE_NOT_FOUND" }]);
  });
});
