import { and, count, eq, sql } from "drizzle-orm";
import type { Tx } from "../db/database.js";
import { eventCounters, events } from "../db/schema.js";

/** The outcome of adding to a counter: its new value, or why it was not changed. */
export type CounterIncrement =
  | { kind: "ok"; value: number }
  | { kind: "no_event" }
  | { kind: "too_many_counters" }
  | { kind: "overflow" };

/** Adds `delta` to the counter `name` of event `eventId` inside `tx`, creating it (at most `maxCounters` an event). */
export function incrementCounter(
  tx: Tx,
  counter: { eventId: string; name: string; delta: number; maxCounters: number },
): CounterIncrement {
  const { eventId, name, delta, maxCounters } = counter;
  const event = tx.select({ id: events.id }).from(events).where(eq(events.id, eventId)).get();
  if (!event) return { kind: "no_event" };
  const where = and(eq(eventCounters.eventId, eventId), eq(eventCounters.name, name));
  const current = tx.select().from(eventCounters).where(where).get();
  if (!current) {
    const existing = tx.select({ n: count() }).from(eventCounters).where(eq(eventCounters.eventId, eventId)).get();
    if ((existing?.n ?? 0) >= maxCounters) return { kind: "too_many_counters" };
  }
  const value = (current?.value ?? 0) + delta;
  if (!Number.isSafeInteger(value)) return { kind: "overflow" };
  if (current) tx.update(eventCounters).set({ value }).where(where).run();
  else tx.insert(eventCounters).values({ eventId, name, value }).run();
  // Readers of the event (GetEvent keeps responses) learn that its counters changed.
  tx.update(events)
    .set({ countersRevision: sql`${events.countersRevision} + 1` })
    .where(eq(events.id, eventId))
    .run();
  return { kind: "ok", value };
}
