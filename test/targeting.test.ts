import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import type { Event } from "../gen/liveops/v1/event_pb.js";
import { EventChangeType, EventService, type WatchEventsResponse } from "../gen/liveops/v1/event_service_pb.js";
import { PlayerService, type PropertyValue } from "../gen/liveops/v1/player_service_pb.js";
import { reasonOf } from "../src/errors.js";
import { bearer, connectClients, type EventClients } from "./support/clients.js";
import { competitionClients, leaderboard } from "./support/competition.js";
import { type JsonBody, jsonOf } from "./support/http.js";
import { startTestServer, type TestServer } from "./support/server.js";
import { eventually, type Watch, watchEvents } from "./support/watch.js";

// Events targeted at audiences: what each player sees of them on every protocol and on REST, who may join and score,
// and what a player's WatchEvents stream shows. The clock never moves in this file: every event stays live.

const HOUR = 3_600_000;

let server: TestServer;
let operator: EventClients;
let audiences: Client<typeof AudienceService>;
let playerAdmin: Client<typeof PlayerService>;
let game: ReturnType<typeof competitionClients> & { players: Client<typeof PlayerService> };

type Property = string | number | boolean;

/** PropertyValue messages of plain values. */
function propertiesOf(values: Record<string, Property>): Record<string, PropertyValue> {
  const kindOf = (value: Property) =>
    typeof value === "string"
      ? ({ case: "stringValue", value } as const)
      : typeof value === "number"
        ? ({ case: "numberValue", value } as const)
        : ({ case: "boolValue", value } as const);
  return Object.fromEntries(
    Object.entries(values).map(([name, value]) => [name, { kind: kindOf(value) } as PropertyValue]),
  );
}

async function setProperties(playerId: string, values: Record<string, Property>) {
  await playerAdmin.setPlayerProperties({ playerId, properties: propertiesOf(values) });
}

/** Player tokens by player id, minted once. */
const tokens = new Map<string, string>();
async function tokenOf(playerId: string): Promise<string> {
  let token = tokens.get(playerId);
  if (!token) {
    token = (await game.players.createPlayerToken({ playerId })).token;
    tokens.set(playerId, token);
  }
  return token;
}

/** A live event (for a day) with these audiences; its id. */
async function createEvent(
  title: string,
  targeting: { audiences?: string[]; excludedAudiences?: string[] },
  withLeaderboard = false,
): Promise<string> {
  const now = server.clock.now();
  const { event } = await operator.admin.createEvent({
    event: {
      title,
      startTime: timestampFromMs(now),
      endTime: timestampFromMs(now + 24 * HOUR),
      ...targeting,
      ...(withLeaderboard ? { leaderboard: leaderboard() } : {}),
    },
  });
  if (!event) throw new Error("CreateEvent returned no event");
  return event.id;
}

/** The three protocols, over the HTTP version each is most used with. */
const protocols: Record<string, (baseUrl: string, key: string) => Transport> = {
  gRPC: (baseUrl, key) => createGrpcTransport({ baseUrl, interceptors: [bearer(key)] }),
  "gRPC-Web": (baseUrl, key) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] }),
  Connect: (baseUrl, key) => createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] }),
};

/** The event clients of a key (or player token) over Connect JSON. */
const eventsOf = (key: string) => connectClients(server.baseUrl, key).events;

async function outcomeOf(call: Promise<unknown>): Promise<{ code: Code | "ok"; reason?: string | undefined }> {
  return call.then(
    () => ({ code: "ok" as const }),
    (e: unknown) => {
      const err = ConnectError.from(e);
      return { code: err.code, reason: reasonOf(err) };
    },
  );
}

const eventNotFound = { code: Code.NotFound, reason: "EVENT_NOT_FOUND" };
const notTargeted = { code: Code.FailedPrecondition, reason: "PLAYER_NOT_TARGETED" };

// The audiences:
// - vips: `vip == true`;
// - non-vips: `vip != true`, which a player without `vip` is not in (its evaluation fails);
// - eu: country DE or FR, plus t-forced (whatever its properties), minus t-banned-eu (whatever its properties);
// - cheaters: `cheater == true`.
const audienceDefinitions = [
  { name: "vips", expression: "player.properties.vip == true" },
  { name: "non-vips", expression: "player.properties.vip != true" },
  {
    name: "eu",
    expression: 'player.properties.country == "DE" || player.properties.country == "FR"',
    includePlayerIds: ["t-forced"],
    excludePlayerIds: ["t-banned-eu"],
  },
  { name: "cheaters", expression: "player.properties.cheater == true" },
];

/** The events of the table, by a short name: what they target. */
const eventTargeting = {
  everyone: {},
  vips: { audiences: ["vips"] },
  nonVips: { audiences: ["non-vips"] },
  eu: { audiences: ["eu"] },
  vipsOrEu: { audiences: ["vips", "eu"] },
  vipsButCheaters: { audiences: ["vips"], excludedAudiences: ["cheaters"] },
  allButCheaters: { excludedAudiences: ["cheaters"] },
};
type EventName = keyof typeof eventTargeting;
const eventNames = Object.keys(eventTargeting) as EventName[];
/** The ids of the table's events, by name. */
const ids = {} as Record<EventName, string>;
const nameOf = (id: string) => eventNames.find((name) => ids[name] === id);

/** The players of the table: their properties (undefined: never stored before its token) and the events they see. */
const table: Record<string, { properties?: Record<string, Property>; sees: EventName[] }> = {
  "t-vip-de": {
    properties: { vip: true, country: "DE" },
    sees: ["everyone", "vips", "eu", "vipsOrEu", "vipsButCheaters", "allButCheaters"],
  },
  "t-plain": {
    properties: { vip: false, country: "US", cheater: false },
    sees: ["everyone", "nonVips", "allButCheaters"],
  },
  "t-vip-cheater": {
    properties: { vip: true, country: "FR", cheater: true },
    sees: ["everyone", "vips", "eu", "vipsOrEu"],
  },
  "t-forced": { properties: { country: "US" }, sees: ["everyone", "eu", "vipsOrEu", "allButCheaters"] },
  "t-banned-eu": { properties: { vip: false, country: "DE" }, sees: ["everyone", "nonVips", "allButCheaters"] },
  "t-lacking": { properties: { country: "US" }, sees: ["everyone", "allButCheaters"] },
  "t-never": { sees: ["everyone", "allButCheaters"] },
};
const players = Object.keys(table);

beforeAll(async () => {
  server = await startTestServer();
  operator = connectClients(server.baseUrl, server.keys.operator);
  const transport = createConnectTransport({
    baseUrl: server.baseUrl,
    httpVersion: "1.1",
    interceptors: [bearer(server.keys.operator)],
  });
  audiences = createClient(AudienceService, transport);
  playerAdmin = createClient(PlayerService, transport);
  game = {
    ...competitionClients(server.baseUrl, server.keys.game_server),
    players: createClient(
      PlayerService,
      createConnectTransport({
        baseUrl: server.baseUrl,
        httpVersion: "1.1",
        interceptors: [bearer(server.keys.game_server)],
      }),
    ),
  };
  for (const audience of audienceDefinitions) await audiences.createAudience({ audience });
  for (const name of eventNames) ids[name] = await createEvent(`table ${name}`, eventTargeting[name]);
  for (const [playerId, { properties }] of Object.entries(table)) {
    if (properties) await setProperties(playerId, properties);
    await tokenOf(playerId);
  }
});
afterAll(() => server.close());

/** The table's events in a list of events, by name, sorted. */
const tableEventsIn = (events: { id: string }[]) =>
  events
    .map((e) => nameOf(e.id))
    .filter((name) => name !== undefined)
    .sort();

describe("a player's view of targeted events", () => {
  const cases = players.flatMap((player) => Object.keys(protocols).map((protocol) => [player, protocol] as const));
  it.each(cases)("%s lists and gets exactly its targeted events, without audiences, over %s", async (player, name) => {
    const transport = protocols[name]?.(server.baseUrl, await tokenOf(player));
    const events = createClient(EventService, transport as Transport);
    const expected = [...(table[player]?.sees ?? [])].sort();

    const listed = (await events.listEvents({ pageSize: 500 })).events;
    expect(tableEventsIn(listed)).toEqual(expected);
    for (const event of listed) expect([event.audiences, event.excludedAudiences]).toEqual([[], []]);

    for (const eventName of eventNames) {
      const got = await events.getEvent({ id: ids[eventName] }).then(
        (res) => res.event as Event,
        (e: unknown) => ConnectError.from(e),
      );
      if (expected.includes(eventName)) {
        expect(got).toMatchObject({ id: ids[eventName], audiences: [], excludedAudiences: [] });
      } else {
        expect(got instanceof ConnectError ? { code: got.code, reason: reasonOf(got) } : got).toEqual(eventNotFound);
      }
    }
  });

  it.each(players)(
    "%s gets exactly its targeted events, without audiences, from GET /events and /events/{id}",
    async (player) => {
      const headers = { authorization: `Bearer ${await tokenOf(player)}` };
      const expected = [...(table[player]?.sees ?? [])].sort();
      const list = await fetch(`${server.baseUrl}/events`, { headers });
      expect(list.status).toBe(200);
      const listed = (await jsonOf(list)).events as JsonBody[];
      expect(tableEventsIn(listed as { id: string }[])).toEqual(expected);
      for (const event of listed) expect([event.audiences, event.excludedAudiences]).toEqual([[], []]);

      for (const eventName of eventNames) {
        const res = await fetch(`${server.baseUrl}/events/${ids[eventName]}`, { headers });
        const body = await jsonOf(res);
        if (expected.includes(eventName)) {
          expect(res.status).toBe(200);
          expect(body.event).toMatchObject({ id: ids[eventName], audiences: [], excludedAudiences: [] });
        } else {
          expect(res.status).toBe(404);
          expect(body.code).toBe("not_found");
        }
      }
    },
  );

  it.each(["admin", "viewer"] as const)("the %s key lists and gets every event with its audiences", async (role) => {
    const events = eventsOf(server.keys[role]);
    const listed = (await events.listEvents({ pageSize: 500 })).events;
    expect(tableEventsIn(listed)).toEqual([...eventNames].sort());
    for (const name of eventNames) {
      const { audiences = [], excludedAudiences = [] } = eventTargeting[name] as Partial<Record<string, string[]>>;
      const shown = listed.find((e) => e.id === ids[name]);
      expect([shown?.audiences, shown?.excludedAudiences]).toEqual([audiences, excludedAudiences]);
      const { event } = await events.getEvent({ id: ids[name] });
      expect([event?.audiences, event?.excludedAudiences]).toEqual([audiences, excludedAudiences]);
    }
  });

  it("hides an event from a player lacking a property its audience's expression reads", async () => {
    // `vip != true` would hold for a missing vip read as null; its evaluation fails instead.
    const lacking = eventsOf(await tokenOf("t-lacking"));
    expect(await outcomeOf(lacking.getEvent({ id: ids.nonVips }))).toEqual(eventNotFound);
    expect(await outcomeOf(lacking.getEvent({ id: ids.vips }))).toEqual(eventNotFound);
    expect(await outcomeOf(eventsOf(await tokenOf("t-plain")).getEvent({ id: ids.nonVips }))).toEqual({ code: "ok" });
  });

  it("shows an event to a player in its audience's include_player_ids whatever its properties", async () => {
    const forced = eventsOf(await tokenOf("t-forced"));
    expect(await outcomeOf(forced.getEvent({ id: ids.eu }))).toEqual({ code: "ok" });
    const { players: matched } = await playerAdmin.listPlayers({ filter: audienceDefinitions[2]?.expression ?? "" });
    expect(matched.map((p) => p.id)).not.toContain("t-forced");
  });

  it("hides an event from a player in its audience's exclude_player_ids whom the expression matches", async () => {
    const banned = eventsOf(await tokenOf("t-banned-eu"));
    expect(await outcomeOf(banned.getEvent({ id: ids.eu }))).toEqual(eventNotFound);
    const { players: matched } = await playerAdmin.listPlayers({ filter: audienceDefinitions[2]?.expression ?? "" });
    expect(matched.map((p) => p.id)).toContain("t-banned-eu");
  });

  it("hides an event from a player in one of its excluded audiences, even when one of its audiences holds it", async () => {
    const cheater = eventsOf(await tokenOf("t-vip-cheater"));
    expect(await outcomeOf(cheater.getEvent({ id: ids.vips }))).toEqual({ code: "ok" });
    expect(await outcomeOf(cheater.getEvent({ id: ids.vipsButCheaters }))).toEqual(eventNotFound);
    expect(await outcomeOf(cheater.getEvent({ id: ids.allButCheaters }))).toEqual(eventNotFound);
  });

  it("shows a player stored only by its token (no properties) just the events for everyone", async () => {
    const { player } = await playerAdmin.getPlayer({ playerId: "t-never" });
    expect(player?.properties).toEqual({});
    const listed = (await eventsOf(await tokenOf("t-never")).listEvents({ pageSize: 500 })).events;
    expect(tableEventsIn(listed)).toEqual(["allButCheaters", "everyone"]);
  });

  it("follows the player's properties as they change", async () => {
    await setProperties("t-flip", { vip: false });
    const flip = eventsOf(await tokenOf("t-flip"));
    expect(await outcomeOf(flip.getEvent({ id: ids.vips }))).toEqual(eventNotFound);
    await setProperties("t-flip", { vip: true });
    expect(await outcomeOf(flip.getEvent({ id: ids.vips }))).toEqual({ code: "ok" });
    await playerAdmin.setPlayerProperties({ playerId: "t-flip", removeProperties: ["vip"] });
    expect(await outcomeOf(flip.getEvent({ id: ids.vips }))).toEqual(eventNotFound);
  });

  it("follows the event's audiences as UpdateEvent changes them", async () => {
    const id = await createEvent("retargeted", { audiences: ["vips"] });
    const plain = eventsOf(await tokenOf("t-plain"));
    expect(await outcomeOf(plain.getEvent({ id }))).toEqual(eventNotFound);
    await operator.admin.updateEvent({ event: { id, audiences: ["non-vips"] }, updateMask: { paths: ["audiences"] } });
    expect(await outcomeOf(plain.getEvent({ id }))).toEqual({ code: "ok" });
    await operator.admin.updateEvent({ event: { id, audiences: [] }, updateMask: { paths: ["audiences"] } });
    expect(await outcomeOf(plain.getEvent({ id }))).toEqual({ code: "ok" });
    expect(await outcomeOf(eventsOf(await tokenOf("t-vip-de")).getEvent({ id }))).toEqual({ code: "ok" });
  });

  it("follows an audience as UpdateAudience changes its expression and lists", async () => {
    await audiences.createAudience({ audience: { name: "late", expression: 'player.properties.country == "US"' } });
    const id = await createEvent("late audience", { audiences: ["late"] });
    const plain = eventsOf(await tokenOf("t-plain"));
    const german = eventsOf(await tokenOf("t-vip-de"));
    const seen = async () => [await outcomeOf(plain.getEvent({ id })), await outcomeOf(german.getEvent({ id }))];
    expect(await seen()).toEqual([{ code: "ok" }, eventNotFound]);
    const expression = 'player.properties.country == "DE"';
    await audiences.updateAudience({ audience: { name: "late", expression } });
    expect(await seen()).toEqual([eventNotFound, { code: "ok" }]);
    await audiences.updateAudience({
      audience: { name: "late", expression, includePlayerIds: ["t-plain"], excludePlayerIds: ["t-vip-de"] },
    });
    expect(await seen()).toEqual([{ code: "ok" }, eventNotFound]);
  });

  it("answers ListEventRuns of an event not targeting the player with NOT_FOUND", async () => {
    const plain = eventsOf(await tokenOf("t-plain"));
    expect(await outcomeOf(plain.listEventRuns({ eventId: ids.vips }))).toEqual(eventNotFound);
    const { runs } = await plain.listEventRuns({ eventId: ids.nonVips });
    expect(runs).toHaveLength(1);
  });

  it("answers GetPlayerScore of a player on an event not targeting it with NOT_FOUND", async () => {
    const id = await createEvent("vip cup", { audiences: ["vips"] }, true);
    await game.boards.submitScore({ eventId: id, playerId: "t-vip-de", score: 3n });
    const vip = competitionClients(server.baseUrl, await tokenOf("t-vip-de")).boards;
    expect((await vip.getPlayerScore({ eventId: id })).entry?.score).toBe(3n);
    const plain = competitionClients(server.baseUrl, await tokenOf("t-plain")).boards;
    expect(await outcomeOf(plain.getPlayerScore({ eventId: id }))).toEqual(eventNotFound);
    expect(await outcomeOf(plain.listScoresAroundPlayer({ eventId: id }))).toEqual(eventNotFound);
  });
});

describe("joining and scoring in a targeted event", () => {
  /** The players on the live board of an event, as an operator reads it. */
  const boardOf = async (eventId: string) => (await game.boards.listScores({ eventId })).scores.map((s) => s.playerId);

  it("refuses JoinEvent of a player outside the event's audiences with PLAYER_NOT_TARGETED", async () => {
    const id = await createEvent("vip join", { audiences: ["vips"] }, true);
    expect(await outcomeOf(game.boards.joinEvent({ eventId: id, playerId: "t-plain" }))).toEqual(notTargeted);
    const joined = await game.boards.joinEvent({ eventId: id, playerId: "t-vip-de" });
    expect(joined).toMatchObject({ participants: 1n, alreadyJoined: false });
  });

  it("refuses SubmitScore of a player outside the event's audiences with PLAYER_NOT_TARGETED, off the board", async () => {
    const id = await createEvent("vip scores", { audiences: ["vips"] }, true);
    expect(await outcomeOf(game.boards.submitScore({ eventId: id, playerId: "t-plain", score: 100n }))).toEqual(
      notTargeted,
    );
    await game.boards.submitScore({ eventId: id, playerId: "t-vip-de", score: 1n });
    expect(await boardOf(id)).toEqual(["t-vip-de"]);
  });

  it("refuses a player in an excluded audience, though one of the event's audiences holds it", async () => {
    const id = await createEvent("clean vip scores", { audiences: ["vips"], excludedAudiences: ["cheaters"] }, true);
    expect(await outcomeOf(game.boards.joinEvent({ eventId: id, playerId: "t-vip-cheater" }))).toEqual(notTargeted);
    expect(await outcomeOf(game.boards.submitScore({ eventId: id, playerId: "t-vip-cheater", score: 9n }))).toEqual(
      notTargeted,
    );
    await game.boards.submitScore({ eventId: id, playerId: "t-vip-de", score: 2n });
    expect(await boardOf(id)).toEqual(["t-vip-de"]);
  });

  it("refuses a player never stored in an event with audiences, and takes it in an event for everyone", async () => {
    const targeted = await createEvent("vips only", { audiences: ["vips"] }, true);
    const open = await createEvent("open to all", {}, true);
    expect(await outcomeOf(game.boards.submitScore({ eventId: targeted, playerId: "ghost", score: 1n }))).toEqual(
      notTargeted,
    );
    await game.boards.submitScore({ eventId: open, playerId: "ghost", score: 1n });
    expect(await boardOf(targeted)).toEqual([]);
    expect(await boardOf(open)).toEqual(["ghost"]);
  });

  it("takes a player included by id in the event's audience", async () => {
    const id = await createEvent("eu cup", { audiences: ["eu"] }, true);
    await game.boards.joinEvent({ eventId: id, playerId: "t-forced" });
    await game.boards.submitScore({ eventId: id, playerId: "t-forced", score: 5n });
    expect(await outcomeOf(game.boards.submitScore({ eventId: id, playerId: "t-banned-eu", score: 6n }))).toEqual(
      notTargeted,
    );
    expect(await boardOf(id)).toEqual(["t-forced"]);
  });
});

describe("a player's WatchEvents stream", () => {
  const WAIT_MS = 5000;
  let events: Client<typeof EventService>;
  beforeAll(async () => {
    await setProperties("w-vip", { vip: true, country: "US" });
    events = eventsOf(await tokenOf("w-vip"));
  });

  /** Opens a watch (after SYNCED), runs `body` with it, and always stops it. */
  async function watching(body: (watch: Watch) => Promise<void>, includeCurrent = false) {
    const watch = watchEvents(events, { includeCurrent });
    try {
      await Promise.race([
        watch.synced(),
        new Promise((_, reject) => setTimeout(() => reject(new Error("no SYNCED")), WAIT_MS)),
      ]);
      await body(watch);
    } finally {
      await watch.stop();
    }
    expect(watch.error).toBeUndefined();
  }

  /** The first message about event `id` after SYNCED of type `type`, waited for at most WAIT_MS. */
  async function messageAbout(watch: Watch, id: string, type: EventChangeType): Promise<WatchEventsResponse> {
    const find = () => watch.changes().find((m) => m.event?.id === id && m.type === type);
    await eventually(() => find() !== undefined || watch.ended, `${EventChangeType[type]} of ${id}`, WAIT_MS);
    const found = find();
    if (!found) throw watch.error ?? new Error(`the stream ended before ${EventChangeType[type]} of ${id}`);
    return found;
  }

  const changesAbout = (watch: Watch, id: string) => watch.changes().filter((m) => m.event?.id === id);

  it("opens with exactly the player's targeted events that have not ended, without audiences", async () => {
    const { events: listed } = await events.listEvents({ pageSize: 500 });
    await watching(async (watch) => {
      const current = watch.messages.filter((m) => m.type === EventChangeType.CURRENT);
      expect(current.map((m) => m.event?.id).sort()).toEqual(listed.map((e) => e.id).sort());
      expect(tableEventsIn(current.map((m) => m.event as Event))).toEqual(
        ["everyone", "vips", "vipsOrEu", "vipsButCheaters", "allButCheaters"].sort(),
      );
      for (const m of current) expect([m.event?.audiences, m.event?.excludedAudiences]).toEqual([[], []]);
    }, true);
  });

  it("skips the changes of events not targeting the player and sends the others without audiences", async () => {
    await watching(async (watch) => {
      const hidden = await createEvent("watched eu", { audiences: ["eu"] });
      const shown = await createEvent("watched vips", { audiences: ["vips"] });
      const created = await messageAbout(watch, shown, EventChangeType.CREATED);
      expect([created.event?.audiences, created.event?.excludedAudiences]).toEqual([[], []]);

      await operator.admin.updateEvent({ event: { id: hidden, title: "still eu" }, updateMask: { paths: ["title"] } });
      await operator.admin.updateEvent({ event: { id: shown, title: "still vips" }, updateMask: { paths: ["title"] } });
      const updated = await messageAbout(watch, shown, EventChangeType.UPDATED);
      expect(updated.event).toMatchObject({ title: "still vips", audiences: [], excludedAudiences: [] });
      // Changes arrive in order: the hidden event's, made before, would be here by now.
      expect(changesAbout(watch, hidden)).toEqual([]);
    });
  });

  it("sends UNTARGETED when an update takes the player out of a shown event, then nothing more of it", async () => {
    await watching(async (watch) => {
      const id = await createEvent("soon not for vips", { audiences: ["vips"] });
      await messageAbout(watch, id, EventChangeType.CREATED);
      await operator.admin.updateEvent({ event: { id, audiences: ["eu"] }, updateMask: { paths: ["audiences"] } });
      const untargeted = await messageAbout(watch, id, EventChangeType.UNTARGETED);
      expect(untargeted.event).toMatchObject({ id, audiences: [], excludedAudiences: [] });

      await operator.admin.updateEvent({ event: { id, title: "eu only" }, updateMask: { paths: ["title"] } });
      const marker = await createEvent("after the untargeting", {});
      await messageAbout(watch, marker, EventChangeType.CREATED);
      expect(changesAbout(watch, id).map((m) => EventChangeType[m.type])).toEqual(["CREATED", "UNTARGETED"]);
    });
  });

  it("sends an event again once an update targets the player", async () => {
    await watching(async (watch) => {
      const id = await createEvent("eu first", { audiences: ["eu"] });
      await operator.admin.updateEvent({ event: { id, audiences: ["vips"] }, updateMask: { paths: ["audiences"] } });
      const updated = await messageAbout(watch, id, EventChangeType.UPDATED);
      expect(updated.event).toMatchObject({ id, audiences: [], excludedAudiences: [] });
      expect(changesAbout(watch, id).map((m) => EventChangeType[m.type])).toEqual(["UPDATED"]);
    });
  });
});
