import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { openSqliteStorage } from "../src/db/sqlite-storage.js";
import { createChangeLog } from "../src/events/event-changes.js";
import type { EventFields } from "../src/events/event-record.js";
import { createRunQueries, prepareExtension, prepareRunPlan, storeExtension } from "../src/events/event-runs.js";
import { createEventStore } from "../src/events/event-store.js";
import { createRecurrenceExpander } from "../src/events/recurrence-expander.js";

// A write's rule is walked before its transaction, so the scheduler may change the event's runs in between: these
// races are set up step by step on a real database, each with the write that comes second.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 5, 1, 12);
const actor = { actorKeyId: "test", method: "test", requestId: "" };

const dir = mkdtempSync(join(tmpdir(), "liveops-races-"));
const storage = openSqliteStorage(join(dir, "liveops.db"));
const expander = createRecurrenceExpander({
  timeoutMs: 2000,
  readTimeoutMs: 500,
  workers: 1,
  maxQueued: 10,
  maxQueuedReads: 10,
});
const runs = createRunQueries(storage.reads, expander);
const store = createEventStore(storage, runs, createChangeLog(storage.reads, runs, { retain: 1000 }));
afterAll(async () => {
  await expander.close();
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

const recurring = (rule: string, startTime: number, endTime?: number): EventFields => ({
  title: "race",
  description: "",
  startTime,
  endTime,
  rewards: [],
  metadata: undefined,
  recurrence: { rule, runDurationMs: HOUR / 2 },
  leaderboard: undefined,
  audiences: [],
  excludedAudiences: [],
});

async function insert(fields: EventFields, now: number) {
  const { plan } = await prepareRunPlan(runs, expander, undefined, fields, now, true, undefined);
  if (!plan) throw new Error("no plan");
  const result = await store.insertEvent(crypto.randomUUID(), fields, now, actor, undefined, plan);
  if (result.kind !== "created") throw new Error(result.kind);
  return result.row;
}

describe("a write planned before the scheduler moved on", () => {
  it("an update whose plan would replace a run announced since is stale, and changes nothing", async () => {
    const row = await insert(recurring("FREQ=HOURLY;COUNT=5", T0 + HOUR), T0);
    const next = { ...recurring("FREQ=HOURLY;COUNT=5", T0 + HOUR), endTime: T0 + 4 * HOUR };
    const { plan } = await prepareRunPlan(runs, expander, row.id, next, T0, false, undefined);
    // Meanwhile the scheduler announced the start of run 1 (as its pass does: a flag, no new version).
    await store.write((tx) =>
      tx.run(sql`UPDATE event_runs SET start_announced = ${true} WHERE event_id = ${row.id} AND run_number = 1`),
    );
    const result = await store.updateEvent(row, "", T0, actor, { next, plan });
    expect(result).toEqual({ kind: "stale" });
    expect((await runs.runByNumber(row.id, 1))?.startAnnounced).toBe(true);
    expect((await store.findEventById(row.id))?.version).toBe(row.version);
  });

  it("an extension of an open-ended event planned before EndEvent is not stored after it", async () => {
    const row = await insert(recurring("FREQ=DAILY", T0 + HOUR), T0);
    const later = T0 + 40 * DAY;
    const extension = await prepareExtension(runs, expander, row, later);
    expect(extension?.runs.length).toBeGreaterThan(0);
    const ended = await store.endEvent(row.id, "", () => later, actor, false);
    expect(ended.kind).toBe("ended");
    const stored = await store.write(async (tx) => (extension ? storeExtension(tx, runs, extension, later) : true));
    expect(stored).toBe(false);
    const endTime = (await store.findEventById(row.id))?.endTime ?? 0;
    const after = await storage.reads.all(
      sql`SELECT run_number FROM event_runs WHERE event_id = ${row.id} AND start_time > ${endTime}`,
    );
    expect(after).toEqual([]);
    expect((await store.findEventById(row.id))?.endTime).toBeLessThanOrEqual(later);
  });
});
