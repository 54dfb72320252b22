import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import {
  type IncrementCounterRequest,
  type IncrementCounterResponse,
  IncrementCounterResponseSchema,
} from "../../gen/liveops/v1/counter_service_pb.js";
import type { Clock } from "../clock.js";
import type { Storage } from "../db/storage.js";
import { assertValid, type FieldViolation, notFound, serviceError } from "../errors.js";
import { checkEventId } from "../events/event-validation.js";
import { incrementCounter } from "./counter-store.js";

const NAME = /^[a-z][a-z0-9_]{0,31}$/;
/** Counters an event may have. */
export const MAX_COUNTERS = 32;
const MAX_DELTA = 1_000_000_000n;

/** liveops.v1.CounterService: atomic named counters of events, written in group commits. */
export function createCounterService({ storage, clock }: { storage: Storage; clock: Clock }) {
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
      const counter = {
        eventId,
        name: req.name,
        delta: Number(req.delta),
        maxCounters: MAX_COUNTERS,
        now: clock.now(),
      };
      const result = await storage.withTransaction((tx) => incrementCounter(tx, counter), { signal: ctx.signal });
      switch (result.kind) {
        case "no_event":
          throw notFound("event", eventId);
        case "too_many_counters":
          throw serviceError(
            Code.ResourceExhausted,
            "TOO_MANY_COUNTERS",
            `an event has at most ${MAX_COUNTERS} counters`,
          );
        case "overflow":
          throw serviceError(Code.OutOfRange, "COUNTER_OVERFLOW", "the counter would leave ±(2^53 - 1)");
      }
      const { value } = result;
      return create(IncrementCounterResponseSchema, { value: BigInt(value) });
    },
  };
}
