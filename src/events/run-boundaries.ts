import { and, asc, eq, lte, sql } from "drizzle-orm";
import { EventChangeType } from "../../gen/liveops/v1/event_service_pb.js";
import type { Db, Tx } from "../db/database.js";
import { eventRuns, events } from "../db/schema.js";
import { type EventRow, OPEN_END, type RunRow } from "./event-record.js";

/** A run boundary to announce. */
export interface Boundary {
  run: RunRow;
  type: EventChangeType.STARTED | EventChangeType.ENDED;
  at: number;
}

/** Drizzle queries of the scheduler: the boundaries of runs not announced yet, and the events to plan further. */
export function createBoundaryQueries(db: Db) {
  return {
    /** The earliest start or end of a run not announced yet. */
    nextBoundary(): number | undefined {
      const start = db
        .select({ at: sql<number | null>`min(${eventRuns.startTime})` })
        .from(eventRuns)
        .where(eq(eventRuns.startAnnounced, false))
        .get()?.at;
      const end = db
        .select({ at: sql<number | null>`min(${eventRuns.endTime})` })
        .from(eventRuns)
        .where(eq(eventRuns.endAnnounced, false))
        .get()?.at;
      const times = [start, end].filter((t): t is number => typeof t === "number");
      return times.length > 0 ? Math.min(...times) : undefined;
    },

    /** Open-ended events whose last planned run has started. */
    eventsToExtend(now: number): EventRow[] {
      return db
        .select()
        .from(events)
        .where(
          and(
            eq(events.endTime, OPEN_END),
            sql`(SELECT max(${eventRuns.startTime}) FROM ${eventRuns} WHERE ${eventRuns.eventId} = ${events.id}) <= ${now}`,
          ),
        )
        .all();
    },

    /** The boundaries not announced yet at or before `now`, in time order (at one instant, an end first). */
    dueBoundaries(now: number): Boundary[] {
      const due = (type: Boundary["type"]) => {
        const start = type === EventChangeType.STARTED;
        const [time, announced] = start
          ? [eventRuns.startTime, eventRuns.startAnnounced]
          : [eventRuns.endTime, eventRuns.endAnnounced];
        return db
          .select()
          .from(eventRuns)
          .where(and(eq(announced, false), lte(time, now)))
          .orderBy(asc(time))
          .all()
          .map((run): Boundary => ({ run, type, at: start ? run.startTime : run.endTime }));
      };
      const endsFirst = (b: Boundary) => (b.type === EventChangeType.ENDED ? -1 : 1);
      return [...due(EventChangeType.STARTED), ...due(EventChangeType.ENDED)].sort(
        (a, b) => a.at - b.at || endsFirst(a) - endsFirst(b),
      );
    },

    /** Marks a boundary announced, inside the transaction that logs it. */
    markAnnounced(tx: Tx, { run, type }: Boundary) {
      tx.update(eventRuns)
        .set(type === EventChangeType.STARTED ? { startAnnounced: true } : { endAnnounced: true })
        .where(and(eq(eventRuns.eventId, run.eventId), eq(eventRuns.runNumber, run.runNumber)))
        .run();
    },
  };
}

/** The scheduler's queries. */
export type BoundaryQueries = ReturnType<typeof createBoundaryQueries>;
