import { and, asc, eq, lte, sql } from "drizzle-orm";
import type { Logger } from "pino";
import { EventChangeType } from "../../gen/liveops/v1/event_service_pb.js";
import type { Clock } from "../clock.js";
import type { Db } from "../db/database.js";
import { eventRuns, events } from "../db/schema.js";
import type { ChangeLog } from "./event-changes.js";
import { type EventRow, OPEN_END, type RunRow } from "./event-record.js";
import { prepareExtension, type RunExtension, type RunQueries, storeExtension } from "./event-runs.js";
import type { EventStore } from "./event-store.js";
import type { RecurrenceExpander } from "./recurrence-expander.js";

/** Planning passes in one wake-up at most, for open-ended events far behind (a long outage). */
const MAX_EXTENSION_ROUNDS = 100;
/** After a failed pass, the next try. */
const RETRY_MS = 1000;

/** A run boundary to announce. */
interface Boundary {
  run: RunRow;
  type: EventChangeType.STARTED | EventChangeType.ENDED;
  at: number;
}

/**
 * Announces run boundaries: wakes at the next start or end of a run (never polling), records each as a STARTED or
 * ENDED change in the transaction that marks it announced — so each is announced once, including those that passed
 * while the server was down, which the first pass after start-up announces — and plans the next runs of open-ended
 * events as their last planned run starts.
 */
export function createEventScheduler(deps: {
  db: Db;
  store: EventStore;
  changeLog: ChangeLog;
  runs: RunQueries;
  expander: RecurrenceExpander;
  clock: Clock;
  logger: Logger;
}) {
  const { db, store, changeLog, runs, expander, clock, logger } = deps;
  let wakeAt: number | undefined;
  let cancel: (() => void) | undefined;
  let stopped = true;
  /** The pass in progress, if any; a wake-up during it runs another pass after it. */
  let running: Promise<void> | undefined;
  let again = false;

  const nextBoundary = (): number | undefined => {
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
  };

  /** Open-ended events whose last planned run has started. */
  const eventsToExtend = (now: number): EventRow[] =>
    db
      .select()
      .from(events)
      .where(
        and(
          eq(events.endTime, OPEN_END),
          sql`(SELECT max(${eventRuns.startTime}) FROM ${eventRuns} WHERE ${eventRuns.eventId} = ${events.id}) <= ${now}`,
        ),
      )
      .all();

  const dueBoundaries = (now: number): Boundary[] => {
    const started = db
      .select()
      .from(eventRuns)
      .where(and(eq(eventRuns.startAnnounced, false), lte(eventRuns.startTime, now)))
      .orderBy(asc(eventRuns.startTime))
      .all()
      .map((run): Boundary => ({ run, type: EventChangeType.STARTED, at: run.startTime }));
    const ended = db
      .select()
      .from(eventRuns)
      .where(and(eq(eventRuns.endAnnounced, false), lte(eventRuns.endTime, now)))
      .orderBy(asc(eventRuns.endTime))
      .all()
      .map((run): Boundary => ({ run, type: EventChangeType.ENDED, at: run.endTime }));
    // In time order; at the same instant a run ends before the next one starts.
    return [...started, ...ended].sort(
      (a, b) =>
        a.at - b.at || (a.type === EventChangeType.ENDED ? -1 : 1) - (b.type === EventChangeType.ENDED ? -1 : 1),
    );
  };

  /**
   * Plans the next runs of the open-ended events whose last planned run has started, walking their rules off the
   * event loop. An event whose rule cannot be walked in time is logged and left for the next pass.
   */
  const extendOpenEnded = async (now: number) => {
    const done = new Set<string>();
    for (let round = 0; round < MAX_EXTENSION_ROUNDS; round++) {
      const behind = eventsToExtend(now).filter((row) => !done.has(row.id));
      if (behind.length === 0) return;
      const extensions: RunExtension[] = [];
      for (const row of behind) {
        try {
          const extension = await prepareExtension(db, expander, row, now);
          if (extension && extension.runs.length > 0) extensions.push(extension);
          else done.add(row.id);
        } catch (err) {
          logger.error({ err, eventId: row.id }, "the next runs of an event could not be planned; retrying later");
          done.add(row.id);
        }
      }
      await store.write((tx) => {
        for (const extension of extensions) storeExtension(tx, runs, extension, now);
      });
    }
  };

  /** One pass: plans what open-ended events need, then announces every boundary up to now in one transaction. */
  const pass = async () => {
    const now = clock.now();
    await extendOpenEnded(now);
    await store.write((tx, changes) => {
      const rows = new Map<string, EventRow | undefined>();
      for (const boundary of dueBoundaries(now)) {
        const { run } = boundary;
        const started = boundary.type === EventChangeType.STARTED;
        tx.update(eventRuns)
          .set(started ? { startAnnounced: true } : { endAnnounced: true })
          .where(and(eq(eventRuns.eventId, run.eventId), eq(eventRuns.runNumber, run.runNumber)))
          .run();
        if (!rows.has(run.eventId)) rows.set(run.eventId, store.findEventById(run.eventId));
        const row = rows.get(run.eventId);
        if (!row) continue;
        if (!started) store.runEnded(tx, row, run, boundary.at);
        changes.push(changeLog.append(tx, boundary.type, row, boundary.at, run));
      }
    });
  };

  const schedule = (at: number | undefined) => {
    if (stopped || at === wakeAt) return;
    cancel?.();
    wakeAt = at;
    cancel = at === undefined ? undefined : clock.timer(at, wake);
  };

  function wake() {
    cancel?.();
    wakeAt = undefined;
    cancel = undefined;
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = pass()
      .then(
        () => schedule(nextBoundary()),
        (err) => {
          if (stopped) return;
          logger.error({ err }, "the event scheduler failed; retrying");
          schedule(clock.now() + RETRY_MS);
        },
      )
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          wake();
        }
      });
  }

  return {
    /** Announces what passed while the server was down, then follows the boundaries as they come. */
    start() {
      stopped = false;
      wake();
    },

    /** Looks again for the next boundary: after a write that may have planned an earlier one. */
    reschedule() {
      if (stopped) return;
      const next = nextBoundary();
      if (next !== undefined && next <= clock.now()) wake();
      else schedule(next);
    },

    /** Stops following boundaries; resolves once a pass in progress has ended. */
    async stop() {
      stopped = true;
      cancel?.();
      cancel = undefined;
      wakeAt = undefined;
      await running;
    },
  };
}

/** The scheduler of run boundaries. */
export type EventScheduler = ReturnType<typeof createEventScheduler>;
