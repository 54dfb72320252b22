import type { Logger } from "pino";
import { EventChangeType } from "../../gen/liveops/v1/event_service_pb.js";
import type { Clock } from "../clock.js";
import type { ChangeLog } from "./event-changes.js";
import type { EventRow } from "./event-record.js";
import { prepareExtension, type RunExtension, type RunQueries, storeExtension } from "./event-runs.js";
import type { EventStore } from "./event-store.js";
import type { RecurrenceExpander } from "./recurrence-expander.js";
import type { BoundaryQueries } from "./run-boundaries.js";

/** Planning passes in one wake-up at most, for open-ended events far behind (a long outage). */
const MAX_EXTENSION_ROUNDS = 100;
/** After a failed pass, the next try. */
const RETRY_MS = 1000;

/**
 * Announces run boundaries: wakes at the next start or end of a run (never polling), records each as a STARTED or
 * ENDED change in the transaction that marks it announced — so each is announced once, including those that passed
 * while the server was down, which the first pass after start-up announces — and plans the next runs of open-ended
 * events as their last planned run starts.
 */
export function createEventScheduler(deps: {
  boundaries: BoundaryQueries;
  store: EventStore;
  changeLog: ChangeLog;
  runs: RunQueries;
  expander: RecurrenceExpander;
  clock: Clock;
  logger: Logger;
}) {
  const { boundaries, store, changeLog, runs, expander, clock, logger } = deps;
  let wakeAt: number | undefined;
  let cancel: (() => void) | undefined;
  let stopped = true;
  /** The pass in progress, if any; a wake-up during it runs another pass after it. */
  let running: Promise<void> | undefined;
  let again = false;

  /**
   * Plans the next runs of the open-ended events whose last planned run has started, walking their rules off the
   * event loop. An event whose rule cannot be walked in time is logged and left for the next pass.
   */
  const extendOpenEnded = async (now: number) => {
    const done = new Set<string>();
    for (let round = 0; round < MAX_EXTENSION_ROUNDS; round++) {
      const behind = (await boundaries.eventsToExtend(now)).filter((row) => !done.has(row.id));
      if (behind.length === 0) return;
      const extensions: RunExtension[] = [];
      for (const row of behind) {
        try {
          const extension = await prepareExtension(runs, expander, row, now);
          if (extension && extension.runs.length > 0) extensions.push(extension);
          else done.add(row.id);
        } catch (err) {
          logger.error({ err, eventId: row.id }, "the next runs of an event could not be planned; retrying later");
          done.add(row.id);
        }
      }
      await store.write(async (tx) => {
        for (const extension of extensions) await storeExtension(tx, runs, extension, now);
      });
    }
  };

  /** One pass: plans what open-ended events need, then announces every boundary up to now in one transaction. */
  const pass = async () => {
    const now = clock.now();
    await extendOpenEnded(now);
    await store.write(async (tx, changes) => {
      const rows = new Map<string, EventRow | undefined>();
      for (const boundary of await boundaries.dueBoundaries(tx, now)) {
        const { run } = boundary;
        const started = boundary.type === EventChangeType.STARTED;
        // The event first, then its run (the order every write of both takes), held until the pass commits: scores
        // in flight for the run commit before it is finalized, later ones after.
        if (!rows.has(run.eventId)) rows.set(run.eventId, await store.lockEvent(tx, run.eventId, "exclusive"));
        if (!(await boundaries.markAnnounced(tx, boundary))) continue;
        const row = rows.get(run.eventId);
        if (!row) continue;
        if (!started) await store.runEnded(tx, row, run, boundary.at);
        changes.push(await changeLog.append(tx, boundary.type, row, boundary.at, run));
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
      .then(async () => schedule(await boundaries.nextBoundary()))
      .then(
        () => {},
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
    async reschedule() {
      if (stopped) return;
      const next = await boundaries.nextBoundary().catch((err: unknown) => {
        logger.error({ err }, "the next run boundary could not be read; retrying");
        return clock.now() + RETRY_MS;
      });
      if (stopped) return;
      if (next !== undefined && next <= clock.now()) wake();
      else schedule(next);
    },

    /**
     * Resolves once no pass is running or asked for: everything due when it was called (a boundary its clock has
     * reached) has been announced. For operators' tools and tests that move a clock.
     */
    async idle(): Promise<void> {
      while (running) await running.catch(() => {});
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
