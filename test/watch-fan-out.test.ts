import { connect } from "node:http2";
import { equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { EventSchema } from "../gen/liveops/v1/event_pb.js";
import {
  EventChangeType,
  EventService,
  type WatchEventsResponse,
  WatchEventsResponseSchema,
} from "../gen/liveops/v1/event_service_pb.js";
import { LeaderboardService, type WatchLeaderboardResponse } from "../gen/liveops/v1/leaderboard_service_pb.js";
import { bearer, connectClients, transportsFor } from "./support/clients.js";
import { competitionClients, createCompetition, leaderboard } from "./support/competition.js";
import { createTestDatabase, skipWithoutPostgres } from "./support/postgres.js";
import { createPostgresProxy } from "./support/postgres-proxy.js";
import { startTestServer, type TestServer, testBackend } from "./support/server.js";
import { eventually, rawWatchEvents, watchEvents } from "./support/watch.js";

const HOUR = 3_600_000;
const INTERVAL_MS = 100;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ LEADERBOARD_WATCH_INTERVAL_MS: String(INTERVAL_MS) });
});
afterAll(() => server.close());

/** A gRPC WatchEvents stream over node:http2, keeping each message's bytes as they arrived. */
function rawWatch() {
  const session = connect(server.baseUrl);
  onTestFinished(() => void session.destroy());
  const stream = rawWatchEvents(session, server.keys.viewer);
  const messages: Buffer[] = [];
  let pending = Buffer.alloc(0);
  stream.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      const length = pending.readUInt32BE(1);
      messages.push(pending.subarray(5, 5 + length));
      pending = pending.subarray(5 + length);
    }
  });
  return messages;
}

async function createEvent(title: string) {
  const now = server.clock.now();
  const { event } = await connectClients(server.baseUrl, server.keys.operator).admin.createEvent({
    event: {
      title,
      description: "A long enough description to make the message worth encoding once.",
      startTime: timestampFromMs(now + HOUR),
      endTime: timestampFromMs(now + 2 * HOUR),
      rewards: [{ id: "gems", name: "Gems", quantity: 250n }],
      metadata: { theme: "winter", regions: ["eu", "na"] },
    },
  });
  return event;
}

/** Calls of a store operation so far (the count of its duration histogram). */
async function storeCalls(store: string, operation: string): Promise<number> {
  const { values } = await server.app.metrics.dbDuration.get();
  const count = values.find(
    (v) =>
      v.metricName === "liveops_db_operation_duration_seconds_count" &&
      v.labels.store === store &&
      v.labels.operation === operation,
  );
  return count?.value ?? 0;
}

describe("WatchEvents fan-out", () => {
  it("sends every binary watcher the same bytes of a change: its encoding, made once", async () => {
    const watchers = [rawWatch(), rawWatch(), rawWatch()];
    await eventually(() => watchers.every((w) => w.length === 1), "SYNCED on every stream");
    const event = await createEvent("Encoded once");
    await eventually(() => watchers.every((w) => w.length === 2), "the change on every stream");
    const [first, ...others] = watchers.map((w) => w[1] as Buffer);
    for (const bytes of others) expect(bytes.equals(first as Buffer)).toBe(true);
    const change = fromBinary(WatchEventsResponseSchema, first as Buffer);
    expect(change.type).toBe(EventChangeType.CREATED);
    expect(change.sequence).toBeGreaterThan(0n);
    expect(change.event && event && equals(EventSchema, change.event, event)).toBe(true);
    // The bytes are what protobuf-es makes of the change itself, field by field in order.
    expect(Buffer.from(toBinary(WatchEventsResponseSchema, change)).equals(first as Buffer)).toBe(true);
  });

  it("delivers the same change over every protocol, JSON included", async () => {
    const transports = transportsFor(server.baseUrl, server.keys.viewer);
    const watches = Object.entries(transports).map(([name, transport]) => ({
      name,
      watch: watchEvents(createClient(EventService, transport)),
    }));
    onTestFinished(() => Promise.all(watches.map(({ watch }) => watch.stop())).then(() => undefined));
    await Promise.all(watches.map(({ watch }) => watch.synced()));
    await createEvent("Over every protocol");
    await Promise.all(watches.map(({ watch }) => watch.changeCount(1)));
    const received = (w: { watch: { changes(): WatchEventsResponse[] } }) => w.watch.changes()[0];
    const reference = received(watches[0] as (typeof watches)[number]);
    expect(reference?.event?.title).toBe("Over every protocol");
    for (const w of watches) {
      expect(
        equals(WatchEventsResponseSchema, received(w) as WatchEventsResponse, reference as WatchEventsResponse),
        w.name,
      ).toBe(true);
    }
  });
});

describe("WatchLeaderboard fan-out", () => {
  /** Moves the server's clock with real time: the watch spaces its reads on the server's clock. */
  function clockFollowsRealTime() {
    const ticker = setInterval(() => server.clock.advance(INTERVAL_MS), INTERVAL_MS);
    onTestFinished(() => clearInterval(ticker));
  }

  function watchBoard(transport: ReturnType<typeof createGrpcTransport>, eventId: string, playerId = "") {
    const messages: WatchLeaderboardResponse[] = [];
    const abort = new AbortController();
    const done = (async () => {
      const stream = createClient(LeaderboardService, transport).watchLeaderboard(
        { eventId, topN: 3, playerId },
        { signal: abort.signal },
      );
      for await (const m of stream) messages.push(m);
    })().catch(() => undefined);
    onTestFinished(async () => {
      abort.abort();
      await done;
    });
    return messages;
  }

  const grpc = () => createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(server.keys.viewer)] });
  const json = () =>
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", interceptors: [bearer(server.keys.viewer)] });
  const competition = async () => {
    const { admin } = competitionClients(server.baseUrl, server.keys.operator);
    return createCompetition(admin, leaderboard(), server.clock.now());
  };
  const submit = (eventId: string, playerId: string, score: number) =>
    competitionClients(server.baseUrl, server.keys.game_server).boards.submitScore({
      eventId,
      playerId,
      score: BigInt(score),
    });

  it("reads the board once per change for all its watchers, however many watch", async () => {
    clockFollowsRealTime();
    const id = await competition();
    const watchers = Array.from({ length: 20 }, () => watchBoard(grpc(), id));
    await eventually(() => watchers.every((m) => m.length === 1), "every first message");
    const before = await storeCalls("events", "findEventById");
    await submit(id, "alice", 10);
    await eventually(() => watchers.every((m) => m.at(-1)?.top[0]?.playerId === "alice"), "alice on every watcher");
    // One read of the event for the change, whatever the number of watchers (not one each).
    expect((await storeCalls("events", "findEventById")) - before).toBeLessThanOrEqual(2);
  });

  it("gives each watcher the shared top with its own player's entry, in binary and in JSON", async () => {
    clockFollowsRealTime();
    const id = await competition();
    const alice = watchBoard(grpc(), id, "alice");
    const bob = watchBoard(grpc(), id, "bob");
    const aliceJson = watchBoard(json(), id, "alice");
    const nobody = watchBoard(grpc(), id);
    const all = [alice, bob, aliceJson, nobody];
    await eventually(() => all.every((m) => m.length === 1), "every first message");
    await submit(id, "alice", 10);
    await submit(id, "bob", 5);
    const settled = (m: WatchLeaderboardResponse[]) => m.at(-1)?.top.length === 2;
    await eventually(() => all.every(settled), "both players on every watcher");
    const tops = all.map((m) => m.at(-1)?.top.map((e) => `${e.playerId}:${e.rank}:${e.score}`));
    for (const top of tops) expect(top).toEqual(["alice:1:10", "bob:2:5"]);
    expect(alice.at(-1)?.player).toMatchObject({ playerId: "alice", rank: 1n, score: 10n });
    expect(aliceJson.at(-1)?.player).toMatchObject({ playerId: "alice", rank: 1n, score: 10n });
    expect(bob.at(-1)?.player).toMatchObject({ playerId: "bob", rank: 2n, score: 5n });
    expect(nobody.at(-1)?.player).toBeUndefined();
    expect(alice.at(-1)?.participants).toBe(2n);
    expect(alice.at(-1)?.time).toEqual(bob.at(-1)?.time);
  });
});

describe.skipIf(testBackend !== "postgres" || skipWithoutPostgres("the watch outage test"))(
  "WatchEvents through a database outage",
  () => {
    it("keeps an open stream while its key cannot be checked again, and delivers the next change once the database is back", async () => {
      const database = await createTestDatabase();
      onTestFinished(() => database.drop());
      const proxy = await createPostgresProxy(database.url);
      onTestFinished(() => proxy.down());
      await proxy.up();
      const outage = await startTestServer({
        DATABASE_URL: proxy.url,
        DB_CONNECT_TIMEOUT_MS: "1000",
        WATCH_HEARTBEAT_MS: "1000",
      });
      onTestFinished(() => outage.close());
      const transport = createGrpcTransport({ baseUrl: outage.baseUrl, interceptors: [bearer(outage.keys.viewer)] });
      const watch = watchEvents(createClient(EventService, transport));
      onTestFinished(() => watch.stop());
      await watch.synced();
      await proxy.down();
      // A heartbeat wakes the stream, which checks its key again: the database cannot answer.
      outage.clock.advance(1000);
      await eventually(() => watch.messages.some((m) => m.type === EventChangeType.HEARTBEAT), "a heartbeat");
      outage.clock.advance(1000);
      await eventually(
        () => watch.messages.filter((m) => m.type === EventChangeType.HEARTBEAT).length >= 2,
        "a second heartbeat",
      );
      expect(watch.ended).toBe(false);
      await proxy.up();
      const { admin } = connectClients(outage.baseUrl, outage.keys.operator);
      const now = outage.clock.now();
      const created = await until(async () => {
        try {
          return await admin.createEvent({
            event: {
              title: "After the outage",
              startTime: timestampFromMs(now + HOUR),
              endTime: timestampFromMs(now + 2 * HOUR),
            },
          });
        } catch {
          return undefined;
        }
      });
      await watch.changeCount(1);
      expect(watch.changes()[0]?.event?.id).toBe(created.event?.id);
      expect(watch.error).toBeUndefined();
    });
  },
);

/** Calls `attempt` until it returns something (every 100 ms, for at most 10 s). */
async function until<T>(attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const result = await attempt();
    if (result !== undefined) return result;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
