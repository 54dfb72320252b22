import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { EventChangeType } from "../gen/liveops/v1/event_service_pb.js";
import { bearer, connectClients, eventClients } from "./support/clients.js";
import { startTestServer, type TestServer } from "./support/server.js";
import { createTestClock } from "./support/test-clock.js";
import { eventually, rawWatchEvents, type Watch, watchEvents } from "./support/watch.js";

const HOUR = 3_600_000;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
async function serverWith(env: Record<string, string> = {}, options: Parameters<typeof startTestServer>[1] = {}) {
  const server = await startTestServer(env, options);
  cleanups.push(() => server.close());
  return server;
}
async function createOneOff(server: TestServer, title: string, startInMs = HOUR) {
  const now = server.clock.now();
  const { event } = await connectClients(server.baseUrl, server.keys.operator).admin.createEvent({
    event: { title, startTime: timestampFromMs(now + startInMs), endTime: timestampFromMs(now + startInMs + HOUR) },
  });
  return event?.id ?? "";
}

describe("WatchEvents limits", () => {
  it("ends a consumer that falls too far behind with RESOURCE_EXHAUSTED, without growing its queue", async () => {
    const server = await serverWith({ WATCH_QUEUE_LIMIT: "5" });
    // A raw HTTP/2 client with a tiny flow-control window that does not read: the server cannot send.
    const session = connect(server.baseUrl, { settings: { initialWindowSize: 256 } });
    cleanups.push(() => void session.destroy());
    const stream = rawWatchEvents(session, server.keys.viewer);
    await eventually(() => server.app.eventFeed.size === 1, "the watcher");
    // More than the stream's write buffer (16 KiB, after which the server waits for the client) plus the queue.
    for (let i = 0; i < 150; i++) await createOneOff(server, `burst ${i} ${"x".repeat(90)}`);
    // Now read: what was sent, then the error in the trailers.
    const trailers = new Promise<Record<string, unknown>>((resolve) => stream.on("trailers", resolve));
    stream.on("data", () => {});
    const status = await trailers;
    expect(status["grpc-status"]).toBe(String(Code.ResourceExhausted));
    expect(decodeURIComponent(String(status["grpc-message"]))).toContain("fell too far behind");
    await eventually(() => server.app.eventFeed.size === 0, "the watcher to be freed");
  });

  it("refuses more watchers than WATCH_MAX_STREAMS", async () => {
    const server = await serverWith({ WATCH_MAX_STREAMS: "2" });
    const events = connectClients(server.baseUrl, server.keys.viewer).events;
    const open = [watchEvents(events), watchEvents(events)];
    cleanups.push(() => Promise.all(open.map((w) => w.stop())).then(() => undefined));
    await Promise.all(open.map((w) => w.synced()));
    const third = watchEvents(events);
    await eventually(() => third.ended, "the refusal");
    expect(third.error?.code).toBe(Code.ResourceExhausted);
  });

  it("says OUT_OF_RANGE when the change log no longer holds the changes after a sequence number", async () => {
    const server = await serverWith({ CHANGE_LOG_RETAIN: "100" });
    for (let i = 0; i < 130; i++) await createOneOff(server, `change ${i}`);
    const watch = watchEvents(connectClients(server.baseUrl, server.keys.viewer).events, { afterSequence: 1n });
    await eventually(() => watch.ended, "the refusal");
    expect(watch.error?.code).toBe(Code.OutOfRange);
    expect(watch.error?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("SEQUENCE_TOO_OLD");
    // A recent point still resumes.
    const recent = watchEvents(connectClients(server.baseUrl, server.keys.viewer).events, { afterSequence: 125n });
    await recent.synced();
    expect(recent.changes().map((m) => m.sequence)).toEqual([126n, 127n, 128n, 129n, 130n]);
    await recent.stop();
  });

  it("ends open streams with UNAVAILABLE when the server shuts down", async () => {
    const server = await startTestServer();
    const watch = watchEvents(connectClients(server.baseUrl, server.keys.viewer).events);
    await watch.synced();
    await server.close();
    await eventually(() => watch.ended, "the stream to end");
    expect(watch.error?.code).toBe(Code.Unavailable);
  });

  it("announces a run boundary that passed while the server was down exactly once, after start-up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "liveops-restart-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const start = Date.UTC(2026, 5, 1, 13);
    const clock = createTestClock(Date.UTC(2026, 5, 1, 12));
    const first = await startTestServer({}, { dir, clock });
    const viewerKey = first.keys.viewer;
    const watch = watchEvents(connectClients(first.baseUrl, viewerKey).events);
    await watch.synced();
    const id = await createOneOff(first, "across a restart");
    await watch.changeCount(1);
    const seen = watch.changes()[0]?.sequence ?? 0n;
    // Down just before the start; back up after it.
    clock.set(start - 1000);
    await first.close();
    await eventually(() => watch.ended, "the first server's stream to end");
    const boundaryChanges = async (after: bigint) => {
      clock.advance(60_000);
      const server = await startTestServer({}, { dir, clock });
      const resumed = watchEvents(connectClients(server.baseUrl, viewerKey).events, { afterSequence: after });
      await resumed.synced();
      await resumed.stop();
      await server.close();
      return resumed.changes();
    };
    const afterRestart = await boundaryChanges(seen);
    expect(afterRestart.map((m) => [EventChangeType[m.type], m.event?.id])).toEqual([["STARTED", id]]);
    expect(afterRestart[0]?.time).toEqual(timestampFromMs(start));
    const last = afterRestart[0]?.sequence ?? 0n;
    // Another restart: nothing new, and the whole log holds one STARTED.
    expect(await boundaryChanges(last)).toEqual([]);
    expect((await boundaryChanges(0n)).length).toBe(0);
    const all = await (async () => {
      const server = await startTestServer({}, { dir, clock });
      const w = watchEvents(connectClients(server.baseUrl, viewerKey).events, { afterSequence: 1n });
      await w.synced();
      await w.stop();
      await server.close();
      return w.changes();
    })();
    expect(all.filter((m) => m.type === EventChangeType.STARTED)).toHaveLength(1);
  });

  it("delivers a change to 1,000 concurrent watchers, and frees them all when they leave", async () => {
    const server = await serverWith();
    // Ten HTTP/2 connections of 100 streams each (MAX_CONCURRENT_STREAMS defaults to 100).
    const watches: Watch[] = [];
    for (let c = 0; c < 10; c++) {
      const transport = createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(server.keys.viewer)] });
      const { events } = eventClients(transport);
      for (let s = 0; s < 100; s++) watches.push(watchEvents(events));
    }
    cleanups.push(() => Promise.all(watches.map((w) => w.stop())).then(() => undefined));
    await Promise.all(watches.map((w) => w.synced()));
    expect(server.app.eventFeed.size).toBe(1000);
    const id = await createOneOff(server, "for everyone");
    await Promise.all(watches.map((w) => w.changeCount(1)));
    const received = watches.filter((w) =>
      w.changes().some((m) => m.event?.id === id && m.type === EventChangeType.CREATED),
    );
    expect(received.length).toBe(1000);
    await Promise.all(watches.map((w) => w.stop()));
    await eventually(() => server.app.eventFeed.size === 0, "every watcher to leave");
    expect(await server.app.metrics.openStreams.get()).toMatchObject({ values: [{ value: 0 }] });
  });
});
