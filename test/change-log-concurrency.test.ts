import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { EventChangeType, type WatchEventsResponse } from "../gen/liveops/v1/event_service_pb.js";
import { eventEtag } from "../src/events/event-record.js";
import { clientFleet, type ServiceClients } from "./support/fleet.js";
import { startTestServer, testBackend } from "./support/server.js";
import { watchEvents } from "./support/watch.js";

// The change log while many connections of a real server write at once (HTTP/2 and HTTP/1.1): what watchers get
// is checked against every acknowledged write and against what the database holds.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ts = timestampFromMs;
const pause = (delay: number) => new Promise((resolve) => setTimeout(resolve, delay));

describe("under concurrent writers", () => {
  it("the change log under concurrent writers: a watcher receives every change once, in order, and a resume from the middle exactly the rest", async () => {
    // A server of its own, keeping the fewest changes allowed (100): the log is pruned while it is watched.
    const logged = await startTestServer({ CHANGE_LOG_RETAIN: "100" });
    try {
      const viewers = clientFleet(logged.baseUrl, logged.keys.viewer, 2);
      const watcher = watchEvents((viewers[0] as ServiceClients).events);
      await watcher.synced();
      const from = watcher.messages.at(-1)?.sequence ?? 0n;
      type Written = { id: string; etag: string; type: EventChangeType };
      // 10 writers at once, each creating 2 events and updating each 7 times: 160 changes.
      const writers = clientFleet(logged.baseUrl, logged.keys.operator, 10);
      const written = await Promise.all(
        writers.map(async (w, k) => {
          const start = logged.clock.now() + DAY;
          const mine: Written[] = [];
          const note = (type: EventChangeType, event: { id: string; etag: string } | undefined) =>
            mine.push({ id: event?.id ?? "", etag: event?.etag ?? "", type });
          for (const e of [0, 1]) {
            const title = `w${k}e${e} v1`;
            const { event } = await w.admin.createEvent({
              event: { title, startTime: ts(start), endTime: ts(start + HOUR) },
            });
            note(EventChangeType.CREATED, event);
          }
          const ids = mine.map((m) => m.id);
          for (let version = 2; version <= 8; version++) {
            for (const [e, id] of ids.entries()) {
              const event = { id, title: `w${k}e${e} v${version}` };
              note(
                EventChangeType.UPDATED,
                (await w.admin.updateEvent({ event, updateMask: { paths: ["title"] } })).event,
              );
            }
          }
          return mine;
        }),
      );
      const expected = written.flat();
      const ids = [...new Set(expected.map((w) => w.id))];
      expect(ids).toHaveLength(20);
      // Each write was acknowledged with the next version of its event.
      for (const id of ids) {
        const etags = expected.filter((w) => w.id === id).map((w) => w.etag);
        expect(etags).toEqual(Array.from({ length: 8 }, (_, v) => eventEtag(id, v + 1)));
      }
      await watcher.changeCount(expected.length);
      await pause(50); // time for a duplicate to show up, if there were one
      expect(watcher.error).toBeUndefined();
      const changes = watcher.changes();
      const identity = (c: { id?: string | undefined; etag?: string | undefined; type: EventChangeType }) =>
        `${c.id}/${c.etag}/${EventChangeType[c.type]}`;
      const seen = (c: WatchEventsResponse) => identity({ id: c.event?.id, etag: c.event?.etag, type: c.type });
      expect(changes.map(seen).sort()).toEqual(expected.map(identity).sort());
      for (const id of ids) {
        const etags = changes.filter((c) => c.event?.id === id).map((c) => c.event?.etag);
        expect(etags).toEqual(expected.filter((w) => w.id === id).map((w) => w.etag));
      }
      const sequences = changes.map((c) => c.sequence);
      expect(sequences.every((s, i) => s > (sequences[i - 1] ?? from))).toBe(true);
      if (testBackend === "sqlite") {
        expect(sequences).toEqual(sequences.map((_, i) => from + BigInt(i + 1)));
      }
      const [pruned] = await logged.app.storage.reads.all<{ value: string }>(
        sql`SELECT value FROM settings WHERE name = 'event_changes_pruned_through'`,
      );
      const prunedThrough = BigInt(pruned?.value ?? 0);
      expect(prunedThrough).toBeGreaterThan(0n);
      const kept = await logged.app.storage.reads.all<{ sequence: number }>(
        sql`SELECT sequence FROM event_changes WHERE sequence > ${Number(from)} ORDER BY sequence`,
      );
      expect(kept.map((k) => BigInt(k.sequence))).toEqual(sequences.filter((s) => s > prunedThrough));

      const after = changes[Math.floor(changes.length / 2)]?.sequence ?? 0n;
      expect(after).toBeGreaterThan(prunedThrough);
      const resumed = watchEvents((viewers[1] as ServiceClients).events, { afterSequence: after });
      await resumed.synced();
      const rest = changes.filter((c) => c.sequence > after);
      const summary = (m: WatchEventsResponse) => [m.sequence, EventChangeType[m.type], m.event?.id, m.event?.etag];
      const opening = resumed.messages.slice(
        0,
        resumed.messages.findIndex((m) => m.type === EventChangeType.SYNCED) + 1,
      );
      expect(opening.map(summary)).toEqual([
        ...rest.map(summary),
        [rest.at(-1)?.sequence, "SYNCED", undefined, undefined],
      ]);
      await Promise.all([watcher.stop(), resumed.stop()]);
      expect([watcher.error, resumed.error]).toEqual([undefined, undefined]);
    } finally {
      await logged.close();
    }
  });
});
