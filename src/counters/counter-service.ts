import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { and, count, eq, sql } from "drizzle-orm";
import {
  type IncrementCounterRequest,
  type IncrementCounterResponse,
  IncrementCounterResponseSchema,
} from "../../gen/liveops/v1/counter_service_pb.js";
import { eventCounters, events } from "../db/schema.js";
import { assertValid, type FieldViolation, notFound, serviceError } from "../errors.js";
import { checkEventId } from "../events/event-validation.js";
import type { WriteBatcher } from "../leaderboards/write-batcher.js";

const NAME = /^[a-z][a-z0-9_]{0,31}$/;
/** Counters an event may have. */
export const MAX_COUNTERS = 32;
const MAX_DELTA = 1_000_000_000n;

/** liveops.v1.CounterService: atomic named counters of events, written in group commits. */
export function createCounterService({ batcher }: { batcher: WriteBatcher }) {
  return {
    async incrementCounter(req: IncrementCounterRequest, ctx: HandlerContext): Promise<IncrementCounterResponse> {
      const violations: FieldViolation[] = checkEventId(req.eventId, "event_id");
      if (!NAME.test(req.name)) {
        violations.push({
          field: "name",
          description: "must be 1 to 32 lower-case letters, digits or '_', starting with a letter",
          reason: "INVALID_FORMAT",
        });
      }
      if (req.delta === 0n || req.delta > MAX_DELTA || req.delta < -MAX_DELTA) {
        violations.push({
          field: "delta",
          description: "must not be 0 and within ±1,000,000,000",
          reason: "OUT_OF_RANGE",
        });
      }
      assertValid(violations);
      const eventId = req.eventId.toLowerCase();
      const value = await batcher.run(
        (tx) => {
          const event = tx.select({ id: events.id }).from(events).where(eq(events.id, eventId)).get();
          if (!event) throw notFound("event", eventId);
          const where = and(eq(eventCounters.eventId, eventId), eq(eventCounters.name, req.name));
          const current = tx.select().from(eventCounters).where(where).get();
          if (!current) {
            const existing = tx
              .select({ n: count() })
              .from(eventCounters)
              .where(eq(eventCounters.eventId, eventId))
              .get();
            if ((existing?.n ?? 0) >= MAX_COUNTERS) {
              throw serviceError(
                Code.ResourceExhausted,
                "TOO_MANY_COUNTERS",
                `an event has at most ${MAX_COUNTERS} counters`,
              );
            }
          }
          const next = (current?.value ?? 0) + Number(req.delta);
          if (!Number.isSafeInteger(next)) {
            throw serviceError(Code.OutOfRange, "COUNTER_OVERFLOW", "the counter would leave ±(2^53 - 1)");
          }
          if (current) tx.update(eventCounters).set({ value: next }).where(where).run();
          else tx.insert(eventCounters).values({ eventId, name: req.name, value: next }).run();
          // Readers of the event (GetEvent keeps responses) learn that its counters changed.
          tx.update(events)
            .set({ countersRevision: sql`${events.countersRevision} + 1` })
            .where(eq(events.id, eventId))
            .run();
          return next;
        },
        undefined,
        ctx.signal,
      );
      return create(IncrementCounterResponseSchema, { value: BigInt(value) });
    },
  };
}
