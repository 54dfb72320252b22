import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { sql } from "drizzle-orm";
import type { EventChangeType } from "../../gen/liveops/v1/event_service_pb.js";
import { type WatchEventsResponse, WatchEventsResponseSchema } from "../../gen/liveops/v1/event_service_pb.js";
import type { SqlClient, Transaction } from "../db/storage.js";
import { type EventRow, eventStateAt, type RunRow, rowToEvent, runToMessage } from "./event-record.js";
import type { RunQueries } from "./event-runs.js";

/** Old changes are pruned every this many appends. */
const PRUNE_EVERY = 64;

/** The setting that holds the highest sequence number pruned so far. */
const PRUNED_THROUGH = "event_changes_pruned_through";

/** The outcome of reading the changes after a sequence number. */
export type ChangesSince =
  | { kind: "ok"; changes: WatchEventsResponse[]; latest: number }
  | { kind: "pruned"; oldest: number }
  | { kind: "ahead"; latest: number };

/**
 * The persisted change log of events: appended in the transaction of each change, so a change is logged exactly
 * when it happens, and pruned to the newest `retain` changes.
 *
 * Sequence numbers may have gaps (PostgreSQL does not give back the numbers of rolled-back transactions), so a
 * missing number never means "pruned": what was pruned is recorded. Appends hold the change log's lock until
 * their transaction ends, so changes commit in sequence order: a reader that has seen sequence N has seen
 * everything below it, and "everything above my cursor" skips nothing.
 */
export function createChangeLog(reads: SqlClient, runs: RunQueries, options: { retain: number }) {
  const latestSequence = async (): Promise<number> =>
    (await reads.get<{ latest: number | null }>(sql`SELECT max(sequence) AS latest FROM event_changes`))?.latest ?? 0;

  return {
    /**
     * Logs a change of `row` that happened at `at`, with the event as it is then, and returns the change with its
     * sequence number. Runs inside the change's transaction, as its last statement but the audit's: the change
     * log stays locked until the commit.
     */
    async append(
      tx: Transaction,
      type: EventChangeType,
      row: EventRow,
      at: number,
      run?: RunRow,
    ): Promise<WatchEventsResponse> {
      const change = create(WatchEventsResponseSchema, {
        type,
        time: timestampFromMs(at),
        event: rowToEvent(row, eventStateAt(row, await runs.runsEndingAfter(row.id, at, tx), at)),
        run: run && runToMessage(run),
      });
      await tx.lockChangeLog();
      const inserted = await tx.get<{ sequence: number }>(sql`
        INSERT INTO event_changes (time, message)
        VALUES (${at}, ${Buffer.from(toBinary(WatchEventsResponseSchema, change))}) RETURNING sequence`);
      if (!inserted) throw new Error("a logged change was not returned");
      const { sequence } = inserted;
      tx.logged();
      if (sequence % PRUNE_EVERY === 0 && sequence > options.retain) {
        const through = sequence - options.retain;
        await tx.run(sql`DELETE FROM event_changes WHERE sequence <= ${through}`);
        await tx.run(sql`INSERT INTO settings (name, value) VALUES (${PRUNED_THROUGH}, ${String(through)})
          ON CONFLICT (name) DO UPDATE SET value = excluded.value`);
      }
      change.sequence = BigInt(sequence);
      return change;
    },

    /** The sequence number of the newest change; 0 before the first. */
    latestSequence,

    /** Every logged change after `after`, in order; `pruned` when some of them are no longer kept. */
    async changesSince(after: number): Promise<ChangesSince> {
      // One statement, so one snapshot: what was pruned, the newest change and the rows after `after` agree (a
      // prune or a change committed between separate reads would skip changes or answer "pruned" falsely). A row
      // with a null sequence carries the bookkeeping when no change follows `after`.
      const rows = await reads.all<{
        sequence: number | null;
        message: Uint8Array | null;
        prunedThrough: string | null;
        latest: number | null;
      }>(sql`
        SELECT c.sequence, c.message, p.pruned_through AS "prunedThrough", p.latest
        FROM (SELECT (SELECT value FROM settings WHERE name = ${PRUNED_THROUGH}) AS pruned_through,
                (SELECT max(sequence) FROM event_changes) AS latest) p
        LEFT JOIN event_changes c ON c.sequence > ${after}
        ORDER BY c.sequence`);
      const prunedThrough = Number(rows[0]?.prunedThrough ?? 0);
      const kept = rows.filter(
        (row): row is typeof row & { sequence: number; message: Uint8Array } => row.sequence !== null,
      );
      // The watcher's cursor: the last change it is given, never a newer one it has not seen.
      const latest = Math.max(after, kept.at(-1)?.sequence ?? 0);
      const newest = rows[0]?.latest ?? 0;
      if (after > newest) return { kind: "ahead", latest: newest };
      if (after < prunedThrough) return { kind: "pruned", oldest: kept[0]?.sequence ?? prunedThrough + 1 };
      const changes = kept.map((row) => {
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
