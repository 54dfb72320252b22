import { sql } from "drizzle-orm";
import { EventChangeType } from "../../gen/liveops/v1/event_service_pb.js";
import type { SqlClient, Transaction } from "../db/storage.js";
import { type EventRow, OPEN_END, type RunRow } from "./event-record.js";
import { RUN_COLUMNS, runOf } from "./event-runs.js";
import { EVENT_COLUMNS } from "./event-store.js";

/** A run boundary to announce. */
export interface Boundary {
  run: RunRow;
  type: EventChangeType.STARTED | EventChangeType.ENDED;
  at: number;
}

/** Queries of the scheduler: the boundaries of runs not announced yet, and the events to plan further. */
export function createBoundaryQueries(reads: SqlClient) {
  return {
    /** The earliest start or end of a run not announced yet. */
    async nextBoundary(): Promise<number | undefined> {
      const next = await reads.get<{ start: number | null; end: number | null }>(sql`
        SELECT (SELECT min(start_time) FROM event_runs WHERE start_announced = ${false}) AS start,
          (SELECT min(end_time) FROM event_runs WHERE end_announced = ${false}) AS "end"`);
      const times = [next?.start, next?.end].filter((t): t is number => typeof t === "number");
      return times.length > 0 ? Math.min(...times) : undefined;
    },

    /** Open-ended events whose last planned run has started. */
    eventsToExtend(now: number): Promise<EventRow[]> {
      return reads.all<EventRow>(sql`
        SELECT ${EVENT_COLUMNS} FROM events WHERE end_time = ${OPEN_END}
          AND (SELECT max(start_time) FROM event_runs WHERE event_runs.event_id = events.id) <= ${now}`);
    },

    /** The boundaries not announced yet at or before `now`, in time order (at one instant, an end first). */
    async dueBoundaries(tx: Transaction, now: number): Promise<Boundary[]> {
      const starts = await tx.all(sql`SELECT ${RUN_COLUMNS} FROM event_runs
        WHERE start_announced = ${false} AND start_time <= ${now} ORDER BY start_time`);
      const ends = await tx.all(sql`SELECT ${RUN_COLUMNS} FROM event_runs
        WHERE end_announced = ${false} AND end_time <= ${now} ORDER BY end_time`);
      const due = (rows: unknown[], type: Boundary["type"]) =>
        rows.map((c): Boundary => {
          const run = runOf(c as Parameters<typeof runOf>[0]);
          return { run, type, at: type === EventChangeType.STARTED ? run.startTime : run.endTime };
        });
      const endsFirst = (b: Boundary) => (b.type === EventChangeType.ENDED ? -1 : 1);
      return [...due(starts, EventChangeType.STARTED), ...due(ends, EventChangeType.ENDED)].sort(
        (a, b) => a.at - b.at || endsFirst(a) - endsFirst(b),
      );
    },

    /**
     * Marks a boundary announced, inside the transaction that logs it. False when it already was (by a concurrent
     * transaction): it must not be announced twice.
     */
    async markAnnounced(tx: Transaction, { run, type }: Boundary): Promise<boolean> {
      const changed =
        type === EventChangeType.STARTED
          ? await tx.run(sql`UPDATE event_runs SET start_announced = ${true}
              WHERE event_id = ${run.eventId} AND run_number = ${run.runNumber} AND start_announced = ${false}`)
          : await tx.run(sql`UPDATE event_runs SET end_announced = ${true}
              WHERE event_id = ${run.eventId} AND run_number = ${run.runNumber} AND end_announced = ${false}`);
      return changed > 0;
    },
  };
}

/** The scheduler's queries. */
export type BoundaryQueries = ReturnType<typeof createBoundaryQueries>;
