import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { asc, gt, lte, sql } from "drizzle-orm";
import type { EventChangeType } from "../../gen/liveops/v1/event_service_pb.js";
import { type WatchEventsResponse, WatchEventsResponseSchema } from "../../gen/liveops/v1/event_service_pb.js";
import type { Db, Tx } from "../db/database.js";
import { eventChanges } from "../db/schema.js";
import { type EventRow, eventStateAt, type RunRow, rowToEvent, runToMessage } from "./event-record.js";
import type { RunQueries } from "./event-runs.js";

/** Old changes are pruned every this many appends. */
const PRUNE_EVERY = 64;

/** The outcome of reading the changes after a sequence number. */
export type ChangesSince =
  | { kind: "ok"; changes: WatchEventsResponse[]; latest: number }
  | { kind: "pruned"; oldest: number }
  | { kind: "ahead"; latest: number };

/**
 * The persisted change log of events: appended in the transaction of each change, so a change is logged exactly
 * when it happens, and pruned to the newest `retain` changes.
 */
export function createChangeLog(db: Db, runs: RunQueries, options: { retain: number }) {
  const latestSequence = (): number =>
    db
      .select({ latest: sql<number | null>`max(${eventChanges.sequence})` })
      .from(eventChanges)
      .get()?.latest ?? 0;

  return {
    /**
     * Logs a change of `row` that happened at `at`, with the event as it is then, and returns the change with its
     * sequence number. Runs inside the change's transaction.
     */
    append(tx: Tx, type: EventChangeType, row: EventRow, at: number, run?: RunRow): WatchEventsResponse {
      const change = create(WatchEventsResponseSchema, {
        type,
        time: timestampFromMs(at),
        event: rowToEvent(row, eventStateAt(row, runs.runsEndingAfter(row.id, at), at)),
        run: run && runToMessage(run),
      });
      const { sequence } = tx
        .insert(eventChanges)
        .values({ time: at, message: Buffer.from(toBinary(WatchEventsResponseSchema, change)) })
        .returning({ sequence: eventChanges.sequence })
        .get();
      if (sequence % PRUNE_EVERY === 0) {
        tx.delete(eventChanges)
          .where(lte(eventChanges.sequence, sequence - options.retain))
          .run();
      }
      change.sequence = BigInt(sequence);
      return change;
    },

    /** The sequence number of the newest change; 0 before the first. */
    latestSequence,

    /** Every logged change after `after`, in order; `pruned` when some of them are no longer kept. */
    changesSince(after: number): ChangesSince {
      const latest = latestSequence();
      if (after > latest) return { kind: "ahead", latest };
      const rows = db
        .select()
        .from(eventChanges)
        .where(gt(eventChanges.sequence, after))
        .orderBy(asc(eventChanges.sequence))
        .all();
      const first = rows[0]?.sequence;
      if (after < latest && first !== after + 1) return { kind: "pruned", oldest: first ?? latest + 1 };
      const changes = rows.map((row) => {
        const change = fromBinary(WatchEventsResponseSchema, row.message);
        change.sequence = BigInt(row.sequence);
        return change;
      });
      return { kind: "ok", changes, latest };
    },
  };
}

/** The change log the services use. */
export type ChangeLog = ReturnType<typeof createChangeLog>;
