import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStatus } from "../gen/liveops/v1/event_pb.js";
import { EventChangeType, EventService, type WatchEventsResponse } from "../gen/liveops/v1/event_service_pb.js";
import { connectClients, eventClients, transportsFor } from "./support/clients.js";
import { createGrpcJsCaller } from "./support/grpc-js-client.js";
import { startTestServer, type TestServer, testActor, testBackend } from "./support/server.js";
import { eventually, watchEvents, watchFrom } from "./support/watch.js";

const HOUR = 3_600_000;
const typesOf = (messages: WatchEventsResponse[]) => messages.map((m) => EventChangeType[m.type]);
const ms = (ts: Parameters<typeof timestampDate>[0] | undefined) => (ts ? timestampDate(ts).getTime() : undefined);
const pause = (delay: number) => new Promise((resolve) => setTimeout(resolve, delay));

let server: TestServer;
let operator: ReturnType<typeof connectClients>;
beforeAll(async () => {
  server = await startTestServer();
  operator = connectClients(server.baseUrl, server.keys.operator);
});
afterAll(() => server.close());

/** A one-off event from an hour from now for an hour. */
async function createOneOff(title: string) {
  const now = server.clock.now();
  const { event } = await operator.admin.createEvent({
    event: { title, startTime: timestampFromMs(now + HOUR), endTime: timestampFromMs(now + 2 * HOUR) },
  });
  if (!event) throw new Error("no event");
  return event;
}

describe("WatchEvents", () => {
  const protocols = [...Object.keys(transportsFor("http://127.0.0.1:1")), "@grpc/grpc-js"];

  it.each(protocols)(
    "sends created, updated, started, ended and deleted in order, exactly once, over %s",
    async (name) => {
      const watch =
        name === "@grpc/grpc-js"
          ? watchFrom(async (onMessage, signal) => {
              const caller = createGrpcJsCaller(server.port, server.keys.viewer);
              const stream = caller.serverStream(EventService.method.watchEvents, {}, onMessage);
              signal.addEventListener("abort", () => stream.cancel());
              await stream.ended.catch((err: { code?: number }) => {
                if (err.code !== Code.Canceled) throw err;
              });
              caller.close();
            })
          : watchEvents(eventClients(transportsFor(server.baseUrl, server.keys.viewer)[name] as never).events);
      await watch.synced();
      const synced = watch.messages.find((m) => m.type === EventChangeType.SYNCED);
      const event = await createOneOff(`watched over ${name}`);
      await operator.admin.updateEvent({ event: { id: event.id, title: "renamed" }, updateMask: { paths: ["title"] } });
      server.clock.advance(HOUR);
      server.clock.advance(HOUR);
      // The scheduler announces the boundaries in its own time: a delete before that would drop them unannounced.
      await watch.changeCount(4);
      await operator.admin.deleteEvent({ id: event.id });
      await watch.changeCount(5);
      await pause(50); // time for a duplicate to show up, if there were one
      const changes = watch.changes();
      expect(typesOf(changes)).toEqual(["CREATED", "UPDATED", "STARTED", "ENDED", "DELETED"]);
      expect(changes.every((c) => c.event?.id === event.id)).toBe(true);
      // In commit order; PostgreSQL's sequence numbers may have gaps (a retried transaction's number is not reused).
      const sequences = changes.map((c) => c.sequence);
      expect(sequences.every((s, i) => s > (i === 0 ? (synced?.sequence ?? 0n) : (sequences[i - 1] as bigint)))).toBe(
        true,
      );
      if (testBackend === "sqlite") {
        expect(sequences).toEqual([1n, 2n, 3n, 4n, 5n].map((k) => (synced?.sequence ?? 0n) + k));
      }
      const [created, updated, started, ended] = changes;
      expect(created?.event?.status).toBe(EventStatus.UPCOMING);
      expect(updated?.event?.title).toBe("renamed");
      expect(started?.event).toMatchObject({ status: EventStatus.ACTIVE, currentRun: { runNumber: 1n } });
      expect(ms(started?.time)).toBe(ms(event.startTime));
      expect(started?.run?.runNumber).toBe(1n);
      expect(ended?.event?.status).toBe(EventStatus.ENDED);
      expect(ms(ended?.run?.endTime)).toBe(ms(event.endTime));
      await watch.stop();
      expect(watch.error).toBeUndefined();
      await eventually(() => server.app.eventFeed.size === 0, "the watcher to leave");
    },
  );

  it("first sends the events that have not ended, with include_current", async () => {
    const live = await createOneOff("current one");
    const watch = watchEvents(connectClients(server.baseUrl, server.keys.viewer).events, { includeCurrent: true });
    await watch.synced();
    const current = watch.messages.filter((m) => m.type === EventChangeType.CURRENT);
    expect(current.map((m) => m.event?.id)).toContain(live.id);
    expect(current.every((m) => m.event?.status !== EventStatus.ENDED)).toBe(true);
    expect(typesOf(watch.messages).at(-1)).toBe("SYNCED");
    await watch.stop();
    await operator.admin.deleteEvent({ id: live.id });
  });

  it("resumes after a sequence number with the changes it missed, then live ones", async () => {
    const viewer = connectClients(server.baseUrl, server.keys.viewer).events;
    const first = watchEvents(viewer);
    await first.synced();
    const a = await createOneOff("before the gap");
    await first.changeCount(1);
    const seen = first.changes().at(-1)?.sequence ?? 0n;
    await first.stop();
    const b = await createOneOff("in the gap");
    await operator.admin.deleteEvent({ id: a.id });
    const resumed = watchEvents(viewer, { afterSequence: seen });
    await resumed.synced();
    expect(typesOf(resumed.messages)).toEqual(["CREATED", "DELETED", "SYNCED"]);
    expect(resumed.messages.map((m) => m.event?.id).slice(0, 2)).toEqual([b.id, a.id]);
    expect(resumed.messages.map((m) => m.sequence)).toEqual([seen + 1n, seen + 2n, seen + 2n]);
    await operator.admin.deleteEvent({ id: b.id });
    await resumed.changeCount(3);
    expect(resumed.changes().at(-1)).toMatchObject({ type: EventChangeType.DELETED, sequence: seen + 3n });
    await resumed.stop();
  });

  it("refuses a resume point it cannot serve: ahead of the log, negative, or with include_current", async () => {
    const viewer = connectClients(server.baseUrl, server.keys.viewer).events;
    for (const req of [
      { afterSequence: 1_000_000n },
      { afterSequence: -1n },
      { afterSequence: 1n, includeCurrent: true },
    ]) {
      const watch = watchEvents(viewer, req);
      await eventually(() => watch.ended, "the refusal");
      expect(watch.error?.code).toBe(Code.InvalidArgument);
    }
  });

  it("sends a HEARTBEAT when nothing happened for WATCH_HEARTBEAT_MS", async () => {
    const watch = watchEvents(connectClients(server.baseUrl, server.keys.viewer).events);
    await watch.synced();
    const synced = watch.messages.at(-1);
    server.clock.advance(14_999);
    await pause(30);
    expect(typesOf(watch.messages)).toEqual(["SYNCED"]);
    server.clock.advance(1);
    await eventually(() => watch.messages.length === 2, "a heartbeat");
    expect(watch.messages[1]).toMatchObject({ type: EventChangeType.HEARTBEAT, sequence: synced?.sequence });
    await watch.stop();
  });

  it("frees a watcher as soon as its client goes away", async () => {
    const watches = Array.from({ length: 5 }, () =>
      watchEvents(connectClients(server.baseUrl, server.keys.viewer).events),
    );
    await Promise.all(watches.map((w) => w.synced()));
    expect(server.app.eventFeed.size).toBe(5);
    await Promise.all(watches.map((w) => w.stop()));
    await eventually(() => server.app.eventFeed.size === 0, "every watcher to leave");
    expect(server.clock.pendingTimers()).toBeLessThanOrEqual(1); // only the scheduler's
  });

  it("ends the stream of a key revoked while it watches", async () => {
    const made = await server.app.keys.createKey(
      { name: "revoked later", role: "viewer" },
      server.clock.now(),
      testActor,
    );
    const watch = watchEvents(connectClients(server.baseUrl, made.key).events);
    await watch.synced();
    await server.app.keys.revokeKey(made.row.id, server.clock.now(), testActor);
    await eventually(() => watch.ended, "the stream to end");
    expect(watch.error?.code).toBe(Code.Unauthenticated);
  });

  it("needs a key with a read role", async () => {
    const watch = watchEvents(connectClients(server.baseUrl, undefined).events);
    await eventually(() => watch.ended, "the refusal");
    expect(watch.error?.code).toBe(Code.Unauthenticated);
  });
});
