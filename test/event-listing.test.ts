import { durationFromMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import { AuditService } from "../gen/liveops/v1/audit_service_pb.js";
import { type Event, EventStatus } from "../gen/liveops/v1/event_pb.js";
import { PlayerService } from "../gen/liveops/v1/player_service_pb.js";
import { RewardService } from "../gen/liveops/v1/reward_service_pb.js";
import { bearer, codeOf, connectClients, type EventClients } from "./support/clients.js";
import { competitionClients, leaderboard } from "./support/competition.js";
import { jsonOf } from "./support/http.js";
import { mintPlayerToken, startTestServer, type TestServer } from "./support/server.js";

// ListEvents' filters, orders and counts, ListRewardGrants by event and run, ListAuditEntries by method and target
// type: through a real server, on the backend of this run. Every test lists its own events by a title prefix of its
// own, so that the events of the others do not count.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let server: TestServer;
let operator: EventClients;
beforeAll(async () => {
  server = await startTestServer();
  operator = connectClients(server.baseUrl, server.keys.operator);
});
afterAll(() => server.close());

const transport = (key: string) =>
  createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] });
const rewardsAs = (key: string) => createClient(RewardService, transport(key));
const auditAs = (key: string) => createClient(AuditService, transport(key));

/** Creates an event from `start` (ms from now) to `end` (none: an open-ended daily rule); its message. */
async function createEvent(title: string, start: number, end: number | undefined): Promise<Event> {
  const now = server.clock.now();
  const { event } = await operator.admin.createEvent({
    event: {
      title,
      startTime: timestampFromMs(now + start),
      ...(end === undefined
        ? { recurrence: { rule: "FREQ=DAILY", runDuration: durationFromMs(HOUR) } }
        : { endTime: timestampFromMs(now + end) }),
    },
  });
  if (!event) throw new Error("CreateEvent returned no event");
  return event;
}

/** A ListEvents request as a client takes it. */
type ListEventsInit = Omit<Parameters<EventClients["events"]["listEvents"]>[0], "$typeName">;

/** Every page of a listing, followed to its end: the ids in order. */
async function walk(request: ListEventsInit, client = operator): Promise<string[]> {
  const ids: string[] = [];
  let pageToken = "";
  let pages = 0;
  do {
    const page = await client.events.listEvents({ ...request, pageToken });
    ids.push(...page.events.map((e) => e.id));
    pageToken = page.nextPageToken;
    if (++pages > 100) throw new Error("too many pages");
  } while (pageToken !== "");
  return ids;
}

/** The violations of a call that must fail with INVALID_ARGUMENT: "field: description" each. */
async function violationsOf(call: Promise<unknown>): Promise<string[]> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err?.code, err?.message ?? "the call succeeded").toBe(Code.InvalidArgument);
  return (err?.findDetails(BadRequestSchema) ?? []).flatMap((d) =>
    d.fieldViolations.map((v) => `${v.field}: ${v.description}`),
  );
}

const endOf = (e: Event) => (e.endTime ? timestampMs(e.endTime) : Number.POSITIVE_INFINITY);
const startOf = (e: Event) => (e.startTime ? timestampMs(e.startTime) : Number.NaN);

describe("ListEvents orders", () => {
  const events: Event[] = [];
  beforeAll(async () => {
    // Three start times, three events each (ties on start); ends tie too, and two events have no end time.
    const ends = [2, 3, 2, 5, 3, 2, undefined, 5, undefined];
    for (const [i, end] of ends.entries()) {
      const start = (Math.floor(i / 3) - 1) * MINUTE;
      events.push(await createEvent(`order-${i}`, start, end === undefined ? undefined : end * HOUR));
    }
  });

  const byKey = (key: (e: Event) => number, descending: boolean) => {
    const sign = descending ? -1 : 1;
    return [...events]
      .sort((a, b) => sign * (key(a) - key(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)))
      .map((e) => e.id);
  };

  it.each([
    ["", startOf, false],
    ["start_time", startOf, false],
    ["start_time desc", startOf, true],
    ["end_time", endOf, false],
    ["end_time desc", endOf, true],
  ] as const)("%s walks every event once across pages, ties broken by id", async (orderBy, key, descending) => {
    const expected = byKey(key, descending);
    for (const pageSize of [1, 2, 4]) {
      expect(await walk({ titleQuery: "order-", orderBy, pageSize })).toEqual(expected);
    }
  });

  it("puts events without an end time last by end time, first by end time descending", async () => {
    const open = events.filter((e) => e.endTime === undefined).map((e) => e.id);
    expect(open).toHaveLength(2);
    expect((await walk({ titleQuery: "order-", orderBy: "end_time" })).slice(-2).sort()).toEqual([...open].sort());
    expect((await walk({ titleQuery: "order-", orderBy: "end_time desc" })).slice(0, 2).sort()).toEqual(
      [...open].sort(),
    );
  });

  it("accepts order_by in any case and spacing", async () => {
    expect(await walk({ titleQuery: "order-", orderBy: "  END_TIME   Desc " })).toEqual(byKey(endOf, true));
  });

  it("refuses a page token with another order or other filters", async () => {
    const first = await operator.events.listEvents({ titleQuery: "order-", orderBy: "end_time", pageSize: 2 });
    const { nextPageToken: pageToken } = first;
    expect(pageToken).not.toBe("");
    expect(await violationsOf(operator.events.listEvents({ titleQuery: "order-", pageSize: 2, pageToken }))).toEqual([
      "page_token: is not a page token of this request; start again without one",
    ]);
    for (const other of [
      { titleQuery: "order-", orderBy: "end_time desc" },
      { titleQuery: "order-1", orderBy: "end_time" },
      { titleQuery: "order-", orderBy: "end_time", statuses: [EventStatus.ACTIVE] },
    ]) {
      expect(await codeOf(operator.events.listEvents({ ...other, pageSize: 2, pageToken }))).toBe(Code.InvalidArgument);
    }
    const next = await operator.events.listEvents({
      titleQuery: "order-",
      orderBy: "End_Time",
      pageSize: 2,
      pageToken,
    });
    expect(next.events).toHaveLength(2);
  });
});

describe("ListEvents status filters and counts", () => {
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    ids.upcoming = (await createEvent("status upcoming", 5 * HOUR, 6 * HOUR)).id;
    ids.active = (await createEvent("status active", 0, 10 * HOUR)).id;
    ids.ended = (await createEvent("status ended", 0, 30 * MINUTE)).id;
    const now = server.clock.now();
    const { event } = await operator.admin.createEvent({
      event: {
        title: "status between runs",
        startTime: timestampFromMs(now),
        recurrence: { rule: "FREQ=DAILY;COUNT=3", runDuration: durationFromMs(30 * MINUTE) },
      },
    });
    ids.between = event?.id ?? "";
    server.clock.advance(HOUR);
    await server.app.scheduler.idle();
  });

  const listed = async (request: ListEventsInit) => (await walk({ titleQuery: "status ", ...request })).sort();

  it("lists the union of status and statuses", async () => {
    expect(await listed({ statuses: [EventStatus.ACTIVE] })).toEqual([ids.active]);
    expect(await listed({ statuses: [EventStatus.ENDED, EventStatus.UPCOMING] })).toEqual(
      [ids.ended, ids.upcoming].sort(),
    );
    expect(await listed({ status: EventStatus.BETWEEN_RUNS, statuses: [EventStatus.ACTIVE] })).toEqual(
      [ids.between, ids.active].sort(),
    );
    expect(await listed({ status: EventStatus.ACTIVE, statuses: [EventStatus.ACTIVE] })).toEqual([ids.active]);
    expect(await listed({})).toEqual(Object.values(ids).sort());
    const statuses = (await operator.events.listEvents({ titleQuery: "status " })).events.map(
      (e) => [e.id, e.status] as const,
    );
    expect(new Map(statuses)).toEqual(
      new Map([
        [ids.upcoming, EventStatus.UPCOMING],
        [ids.active, EventStatus.ACTIVE],
        [ids.ended, EventStatus.ENDED],
        [ids.between, EventStatus.BETWEEN_RUNS],
      ]),
    );
  });

  it("counts every status of the title's events, whatever the status filters, and the total of the filters", async () => {
    const page = await operator.events.listEvents({
      titleQuery: "STATUS ",
      statuses: [EventStatus.ACTIVE, EventStatus.ENDED],
      includeCounts: true,
      pageSize: 1,
    });
    expect(page.events).toHaveLength(1);
    expect(page.totalSize).toBe(2);
    expect(page.statusCounts.map((c) => [c.status, c.count])).toEqual([
      [EventStatus.UPCOMING, 1],
      [EventStatus.ACTIVE, 1],
      [EventStatus.BETWEEN_RUNS, 1],
      [EventStatus.ENDED, 1],
    ]);
    const all = await operator.events.listEvents({ titleQuery: "status ", includeCounts: true });
    expect(all.totalSize).toBe(4);
  });

  it("shows each listed event as GetEvent does: its status, runs and counters", async () => {
    const game = competitionClients(server.baseUrl, server.keys.game_server);
    await game.counters.incrementCounter({ eventId: ids.active ?? "", name: "likes", delta: 3n });
    await game.counters.incrementCounter({ eventId: ids.between ?? "", name: "views", delta: 2n });
    const { events } = await operator.events.listEvents({ titleQuery: "status ", pageSize: 500 });
    expect(events).toHaveLength(4);
    for (const listed of events) {
      expect(listed).toEqual((await operator.events.getEvent({ id: listed.id })).event);
    }
    const byId = new Map(events.map((e) => [e.id, e]));
    expect(byId.get(ids.active ?? "")?.counters).toEqual({ likes: 3n });
    expect(byId.get(ids.between ?? "")?.nextRunStartTime).toBeDefined();
  });

  it("fills every status with zeros when nothing matches, and counts nothing unless asked", async () => {
    const none = await operator.events.listEvents({ titleQuery: "no such title anywhere", includeCounts: true });
    expect(none.totalSize).toBe(0);
    expect(none.statusCounts.map((c) => [c.status, c.count])).toEqual([
      [EventStatus.UPCOMING, 0],
      [EventStatus.ACTIVE, 0],
      [EventStatus.BETWEEN_RUNS, 0],
      [EventStatus.ENDED, 0],
    ]);
    const uncounted = await operator.events.listEvents({ titleQuery: "status " });
    expect(uncounted.totalSize).toBe(0);
    expect(uncounted.statusCounts).toEqual([]);
  });
});

describe("ListEvents title_query", () => {
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    const titles = {
      percent: "Title-q Summer SALE 50% off",
      fifty: "Title-q Summer sale 500 off",
      underscore: "title-q summer_sale",
      dash: "TITLE-Q Summer-sale",
      backslash: "title-q back\\slash",
      accented: "title-q ÉTÉ fest",
    };
    for (const [name, title] of Object.entries(titles)) ids[name] = (await createEvent(title, 0, HOUR)).id;
  });

  const matching = async (titleQuery: string) => (await walk({ titleQuery })).sort();
  const idsOf = (...names: string[]) => names.map((n) => ids[n] ?? "").sort();

  it("matches a substring ignoring ASCII case", async () => {
    expect(await matching("title-q")).toEqual(Object.values(ids).sort());
    expect(await matching("SUMMER SALE")).toEqual(idsOf("percent", "fifty"));
    expect(await matching("summer-SALE")).toEqual(idsOf("dash"));
  });

  it("matches %, _ and \\ literally", async () => {
    expect(await matching("50%")).toEqual(idsOf("percent"));
    expect(await matching("50% off")).toEqual(idsOf("percent"));
    expect(await matching("summer_sale")).toEqual(idsOf("underscore"));
    expect(await matching("title-q %")).toEqual([]);
    expect(await matching("k\\s")).toEqual(idsOf("backslash"));
  });

  it("folds the case of ASCII letters only, on both backends", async () => {
    expect(await matching("ÉTÉ")).toEqual(idsOf("accented"));
    expect(await matching("été")).toEqual([]);
    expect(await matching("ÉtÉ FEST")).toEqual(idsOf("accented"));
  });
});

describe("ListEvents invalid requests", () => {
  it.each([
    [{ orderBy: "title" }, 'order_by: must be one of "start_time", "start_time desc", "end_time", "end_time desc"'],
    [
      { orderBy: "start_time asc" },
      'order_by: must be one of "start_time", "start_time desc", "end_time", "end_time desc"',
    ],
    [{ titleQuery: "x".repeat(201) }, "title_query: must be at most 200 characters"],
    [
      { statuses: [EventStatus.ACTIVE, EventStatus.UNSPECIFIED] },
      "statuses[1]: must be one of EVENT_STATUS_UPCOMING, EVENT_STATUS_ACTIVE, EVENT_STATUS_BETWEEN_RUNS, EVENT_STATUS_ENDED (got EVENT_STATUS_UNSPECIFIED)",
    ],
    [
      { statuses: [99 as EventStatus] },
      "statuses[0]: must be one of EVENT_STATUS_UPCOMING, EVENT_STATUS_ACTIVE, EVENT_STATUS_BETWEEN_RUNS, EVENT_STATUS_ENDED (got 99)",
    ],
  ] as [ListEventsInit, string][])("refuses %o", async (request, violation) => {
    expect(await violationsOf(operator.events.listEvents(request))).toEqual([violation]);
  });

  it("accepts a title_query of 200 characters, counted as characters", async () => {
    expect((await operator.events.listEvents({ titleQuery: "é".repeat(200) })).events).toEqual([]);
  });

  it("names every bad field at once", async () => {
    const violations = await violationsOf(
      operator.events.listEvents({ orderBy: "id", titleQuery: "y".repeat(300), statuses: [0] }),
    );
    expect(violations.map((v) => v.split(":")[0])).toEqual(["statuses[0]", "title_query", "order_by"]);
  });
});

describe("REST GET /events", () => {
  const get = (query: string) =>
    fetch(`${server.baseUrl}/events${query}`, { headers: { authorization: `Bearer ${server.keys.viewer}` } });

  it("takes q and order_by", async () => {
    const a = await createEvent("rest-q alpha", -2 * MINUTE, 2 * HOUR);
    const b = await createEvent("REST-Q beta", -MINUTE, HOUR);
    await createEvent("other", -MINUTE, HOUR);
    const res = await get(`?q=${encodeURIComponent("rest-q")}&order_by=${encodeURIComponent("end_time desc")}`);
    expect(res.status).toBe(200);
    expect((await jsonOf(res)).events.map((e: { id: string }) => e.id)).toEqual([a.id, b.id]);
    const byStart = await jsonOf(await get("?q=rest-q"));
    expect(byStart.events.map((e: { id: string }) => e.id)).toEqual([a.id, b.id]);
    const byEnd = await jsonOf(await get("?q=rest-q&order_by=end_time"));
    expect(byEnd.events.map((e: { id: string }) => e.id)).toEqual([b.id, a.id]);
  });

  it("refuses a bad q or order_by with 400, naming the query parameter", async () => {
    const badOrder = await get("?order_by=title");
    expect(badOrder.status).toBe(400);
    expect(JSON.stringify(await jsonOf(badOrder))).toContain("order_by: must be one of");
    const longQ = await get(`?q=${"q".repeat(201)}`);
    expect(longQ.status).toBe(400);
    expect(JSON.stringify(await jsonOf(longQ))).toContain("q: must be at most 200 characters");
  });
});

describe("a player's targeted listing", () => {
  let vipToken: string;
  let plainToken: string;
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    const audiences = createClient(AudienceService, transport(server.keys.operator));
    await audiences.createAudience({ audience: { name: "listing-vips", expression: "player.properties.vip == true" } });
    const players = createClient(PlayerService, transport(server.keys.game_server));
    await players.setPlayerProperties({
      playerId: "listing-vip",
      properties: { vip: { kind: { case: "boolValue", value: true } } },
    });
    vipToken = await mintPlayerToken(server.baseUrl, server.keys.game_server, "listing-vip");
    plainToken = await mintPlayerToken(server.baseUrl, server.keys.game_server, "listing-plain");
    const now = server.clock.now();
    const create = async (title: string, start: number, end: number, audiences: string[]) => {
      const { event } = await operator.admin.createEvent({
        event: { title, startTime: timestampFromMs(now + start), endTime: timestampFromMs(now + end), audiences },
      });
      return event?.id ?? "";
    };
    ids.openLive = await create("Targeted open live", 0, 3 * HOUR, []);
    ids.vipLive = await create("Targeted VIP live", 0, 2 * HOUR, ["listing-vips"]);
    ids.openSoon = await create("Targeted open soon", HOUR, 4 * HOUR, []);
    ids.vipSoon = await create("Targeted VIP soon", HOUR, 5 * HOUR, ["listing-vips"]);
  });

  it("lists only the events that target the player, with the new filters and order", async () => {
    const vip = connectClients(server.baseUrl, vipToken);
    const plain = connectClients(server.baseUrl, plainToken);
    const request = { titleQuery: "TARGETED", orderBy: "end_time desc", pageSize: 1 };
    expect(await walk(request, vip)).toEqual([ids.vipSoon, ids.openSoon, ids.openLive, ids.vipLive]);
    expect(await walk(request, plain)).toEqual([ids.openSoon, ids.openLive]);
    expect(await walk({ ...request, statuses: [EventStatus.ACTIVE] }, plain)).toEqual([ids.openLive]);
    expect(await walk({ titleQuery: "targeted vip" }, plain)).toEqual([]);
    const listed = await vip.events.listEvents({ titleQuery: "targeted vip" });
    expect(listed.events.map((e) => e.audiences)).toEqual([[], []]);
  });

  it("counts only the events that target the player", async () => {
    const counts = async (key: string) => {
      const page = await connectClients(server.baseUrl, key).events.listEvents({
        titleQuery: "targeted",
        statuses: [EventStatus.UPCOMING],
        includeCounts: true,
      });
      return [page.totalSize, page.statusCounts.map((c) => c.count)];
    };
    expect(await counts(plainToken)).toEqual([1, [1, 1, 0, 0]]);
    expect(await counts(vipToken)).toEqual([2, [2, 2, 0, 0]]);
    expect(await counts(server.keys.viewer)).toEqual([2, [2, 2, 0, 0]]);
  });
});

describe("ListRewardGrants by event and run", () => {
  let cup = "";
  let other = "";
  beforeAll(async () => {
    const game = competitionClients(server.baseUrl, server.keys.game_server);
    const now = server.clock.now();
    const prizeTiers = [{ rankFrom: 1, rankTo: 10, rewards: [{ id: "coin", name: "Coin", quantity: 1n }] }];
    const { event } = await operator.admin.createEvent({
      event: {
        title: "grants cup",
        startTime: timestampFromMs(now),
        recurrence: { rule: "FREQ=DAILY;COUNT=2", runDuration: durationFromMs(HOUR) },
        leaderboard: leaderboard({ prizeTiers }),
      },
    });
    cup = event?.id ?? "";
    const single = await operator.admin.createEvent({
      event: {
        title: "grants other",
        startTime: timestampFromMs(now),
        endTime: timestampFromMs(now + HOUR),
        leaderboard: leaderboard({ prizeTiers }),
      },
    });
    other = single.event?.id ?? "";
    for (const [i, player] of ["g-a", "g-b", "g-c"].entries()) {
      await game.boards.submitScore({ eventId: cup, playerId: player, score: BigInt(10 - i) });
    }
    await game.boards.submitScore({ eventId: other, playerId: "g-a", score: 1n });
    server.clock.advance(24 * HOUR);
    await server.app.scheduler.idle();
    for (const player of ["g-a", "g-d"]) await game.boards.submitScore({ eventId: cup, playerId: player, score: 5n });
    server.clock.advance(HOUR);
    await server.app.scheduler.idle();
    // Boards are finalized and their prizes granted after the run ends, off the scheduler's pass.
    await vi.waitFor(async () => {
      expect(await grantsListed(server.keys.admin, { eventId: cup })).toHaveLength(5);
      expect(await grantsListed(server.keys.admin, { eventId: other })).toHaveLength(1);
    });
  });

  /** Every grant of a listing, through pages of one: "player/run" each. */
  async function grantsListed(key: string, request: { playerId?: string; eventId?: string; runNumber?: bigint }) {
    const rewards = rewardsAs(key);
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await rewards.listRewardGrants({ ...request, pageSize: 1, pageToken });
      seen.push(...page.grants.map((g) => `${g.playerId}/${g.eventId === cup ? "cup" : "other"}/${g.runNumber}`));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return seen.sort();
  }

  it("lists an event's grants to viewers, operators, admins and game servers, without a player", async () => {
    for (const role of ["viewer", "operator", "admin", "game_server"] as const) {
      expect(await grantsListed(server.keys[role], { eventId: cup })).toEqual([
        "g-a/cup/1",
        "g-a/cup/2",
        "g-b/cup/1",
        "g-c/cup/1",
        "g-d/cup/2",
      ]);
    }
  });

  it("lists one run's grants, and a player's grants of one event", async () => {
    expect(await grantsListed(server.keys.viewer, { eventId: cup, runNumber: 2n })).toEqual(["g-a/cup/2", "g-d/cup/2"]);
    expect(await grantsListed(server.keys.viewer, { eventId: cup.toUpperCase(), runNumber: 1n })).toHaveLength(3);
    expect(await grantsListed(server.keys.game_server, { playerId: "g-a" })).toEqual([
      "g-a/cup/1",
      "g-a/cup/2",
      "g-a/other/1",
    ]);
    expect(await grantsListed(server.keys.viewer, { playerId: "g-a", eventId: other })).toEqual(["g-a/other/1"]);
    expect(await grantsListed(server.keys.viewer, { eventId: cup, runNumber: 3n })).toEqual([]);
  });

  it("lets viewer and operator keys list one event's grants only, not a player's across events", async () => {
    for (const key of [server.keys.viewer, server.keys.operator]) {
      expect(await codeOf(rewardsAs(key).listRewardGrants({ playerId: "g-a" }))).toBe(Code.PermissionDenied);
    }
    expect(await grantsListed(server.keys.admin, { playerId: "g-a" })).toHaveLength(3);
  });

  it("lists a player token only its own grants, whatever the event filter", async () => {
    const token = await mintPlayerToken(server.baseUrl, server.keys.game_server, "g-a");
    expect(await grantsListed(token, { eventId: cup })).toEqual(["g-a/cup/1", "g-a/cup/2"]);
    expect(await grantsListed(token, { eventId: cup, runNumber: 1n })).toEqual(["g-a/cup/1"]);
    expect(await codeOf(rewardsAs(token).listRewardGrants({ playerId: "g-b", eventId: cup }))).toBe(
      Code.PermissionDenied,
    );
  });

  it("refuses run_number without event_id, a negative run_number, and no player nor event", async () => {
    const rewards = rewardsAs(server.keys.game_server);
    expect(await violationsOf(rewards.listRewardGrants({ playerId: "g-a", runNumber: 1n }))).toEqual([
      "run_number: requires event_id",
    ]);
    expect(await violationsOf(rewards.listRewardGrants({ eventId: cup, runNumber: -1n }))).toEqual([
      "run_number: must not be negative",
    ]);
    expect(await violationsOf(rewards.listRewardGrants({}))).toEqual([
      "player_id: is required unless event_id is given",
    ]);
    expect(await violationsOf(rewards.listRewardGrants({ eventId: "cup" }))).toEqual(["event_id: must be a UUID"]);
  });

  it("refuses a page token of another filter", async () => {
    const rewards = rewardsAs(server.keys.viewer);
    const { nextPageToken: pageToken } = await rewards.listRewardGrants({ eventId: cup, pageSize: 1 });
    expect(await codeOf(rewards.listRewardGrants({ eventId: cup, runNumber: 1n, pageSize: 1, pageToken }))).toBe(
      Code.InvalidArgument,
    );
  });
});

describe("ListAuditEntries by method and target type", () => {
  let id = "";
  beforeAll(async () => {
    id = (await createEvent("audited listing", HOUR, 2 * HOUR)).id;
    for (const title of ["audited once", "audited twice"]) {
      await operator.admin.updateEvent({ event: { id, title }, updateMask: { paths: ["title"] } });
    }
  });

  it("filters by a method's full path or its name alone", async () => {
    const audit = auditAs(server.keys.admin);
    for (const method of ["/liveops.v1.EventAdminService/UpdateEvent", "UpdateEvent"]) {
      const { entries } = await audit.listAuditEntries({ targetId: id, method });
      expect(entries.map((e) => e.changes?.title)).toEqual([
        { before: "audited once", after: "audited twice" },
        { before: "audited listing", after: "audited once" },
      ]);
    }
    const created = await audit.listAuditEntries({ targetId: id, method: "CreateEvent" });
    expect(created.entries.map((e) => e.method)).toEqual(["/liveops.v1.EventAdminService/CreateEvent"]);
    expect((await audit.listAuditEntries({ targetId: id, method: "Nope" })).entries).toEqual([]);
    expect((await audit.listAuditEntries({ targetId: id, method: "/UpdateEvent" })).entries).toEqual([]);
  });

  it("filters by target type, and pages within the filter", async () => {
    const audit = auditAs(server.keys.admin);
    const keys = await audit.listAuditEntries({ targetType: "api_key", pageSize: 500 });
    expect(keys.entries.length).toBeGreaterThanOrEqual(4);
    expect(new Set(keys.entries.map((e) => e.targetType))).toEqual(new Set(["api_key"]));
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await audit.listAuditEntries({ targetType: "event", method: "UpdateEvent", pageSize: 1, pageToken });
      for (const e of page.entries) {
        expect([e.targetType, e.method]).toEqual(["event", "/liveops.v1.EventAdminService/UpdateEvent"]);
        seen.push(e.id);
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    const { nextPageToken } = await audit.listAuditEntries({ targetType: "event", pageSize: 1 });
    expect(await codeOf(audit.listAuditEntries({ targetType: "api_key", pageSize: 1, pageToken: nextPageToken }))).toBe(
      Code.InvalidArgument,
    );
  });

  it("refuses a method or target type longer than 128 characters", async () => {
    const audit = auditAs(server.keys.admin);
    expect(
      await violationsOf(audit.listAuditEntries({ method: "m".repeat(129), targetType: "t".repeat(129) })),
    ).toEqual(["method: must be at most 128 characters", "target_type: must be at most 128 characters"]);
  });
});
