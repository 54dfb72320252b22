import { sql } from "drizzle-orm";
import { appendClusterChange } from "../cluster/cluster-changes.js";
import type { Transaction } from "../db/storage.js";

/** The outcome of adding to a counter: its new value, or why it was not changed. */
export type CounterIncrement =
  | { kind: "ok"; value: number }
  | { kind: "no_event" }
  | { kind: "too_many_counters" }
  | { kind: "overflow" };

/**
 * Adds `delta` to the counter `name` of event `eventId` inside `tx`, creating it (at most `maxCounters` an event).
 * The event's row is locked first (it counts the change for readers' caches), so concurrent increments of one
 * event on PostgreSQL take turns, and a new counter is counted against the limit by one of them at a time.
 */
export async function incrementCounter(
  tx: Transaction,
  counter: { eventId: string; name: string; delta: number; maxCounters: number; now: number },
): Promise<CounterIncrement> {
  const { eventId, name, delta, maxCounters, now } = counter;
  // Readers of the event (GetEvent keeps responses) learn that its counters changed.
  const event = await tx.run(sql`UPDATE events SET counters_revision = counters_revision + 1 WHERE id = ${eventId}`);
  if (event === 0) return { kind: "no_event" };
  const current = await tx.get<{ value: number }>(
    sql`SELECT value FROM event_counters WHERE event_id = ${eventId} AND name = ${name}`,
  );
  if (!current) {
    const existing = await tx.get<{ n: number }>(
      sql`SELECT count(*) AS n FROM event_counters WHERE event_id = ${eventId}`,
    );
    if (Number(existing?.n ?? 0) >= maxCounters) return { kind: "too_many_counters" };
  }
  const value = (current?.value ?? 0) + delta;
  if (!Number.isSafeInteger(value)) return { kind: "overflow" };
  if (current) {
    await tx.run(sql`UPDATE event_counters SET value = ${value} WHERE event_id = ${eventId} AND name = ${name}`);
  } else {
    await tx.run(sql`INSERT INTO event_counters (event_id, name, value) VALUES (${eventId}, ${name}, ${value})`);
  }
  await appendClusterChange(tx, "counter", eventId, { name, value }, now);
  return { kind: "ok", value };
}
