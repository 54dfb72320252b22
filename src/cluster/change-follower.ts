import type { Logger } from "pino";
import type { WatchEventsResponse } from "../../gen/liveops/v1/event_service_pb.js";
import type { Storage } from "../db/storage.js";
import type { ChangeLog } from "../events/event-changes.js";
import type { ClusterChange, ClusterChanges, ClusterCursor } from "./cluster-changes.js";

/** Changes read at once from the cluster log; a reader further behind reads again at once. */
const PAGE = 1000;
/**
 * When committed changes wait for an older transaction to end, the first next look (see ClusterChangesAfter.held);
 * it doubles while they keep waiting, up to the poll interval.
 */
const HELD_RETRY_MS = 5;

/** What a follower does with what it reads. Each is called in log order, and must tolerate a change twice. */
export interface ChangeAppliers {
  /** Changes of events and runs (the WatchEvents log), in sequence order. */
  events(changes: readonly WatchEventsResponse[]): void;
  /** Changes of keys, scores, grants and counters. */
  cluster(changes: readonly ClusterChange[]): void;
  /**
   * Some changes after the reader's place are no longer kept (it was away longer than they are): whatever was derived
   * from them must be read from the database afresh.
   */
  resync(log: "events" | "cluster"): void;
}

/**
 * Follows the change logs from this process's own place in each: woken after each local commit that logged a
 * change and by other instances' wake-ups (Storage.onChangesCommitted), and every `pollMs` in case a wake-up was lost.
 * One read at a time; wake-ups during a read make one more.
 */
export function createChangeFollower(deps: {
  storage: Storage;
  changeLog: ChangeLog;
  clusterChanges: ClusterChanges;
  appliers: ChangeAppliers;
  pollMs: number;
  logger: Logger;
}) {
  const { storage, changeLog, clusterChanges, appliers, logger } = deps;
  let eventCursor: number | undefined;
  let clusterCursor: ClusterCursor | undefined;
  let reading: Promise<void> | undefined;
  let again = false;
  let failing = false;
  let stopped = true;
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

  const readEvents = async (after: number) => {
    const since = await changeLog.changesSince(after);
    if (since.kind === "ok") {
      if (since.changes.length > 0) appliers.events(since.changes);
      return since.latest;
    }
    // Pruned past this reader's place, or (a database restored from an older backup) behind it.
    logger.warn(
      { after, outcome: since },
      "the event change log no longer holds this instance's place; reading afresh",
    );
    appliers.resync("events");
    return changeLog.latestSequence();
  };

  let heldRetry: NodeJS.Timeout | undefined;
  let heldDelay = HELD_RETRY_MS;
  const readCluster = async (after: ClusterCursor): Promise<{ cursor: ClusterCursor; more: boolean }> => {
    const page = await clusterChanges.after(after, PAGE);
    if (page.kind === "pruned") {
      logger.warn({ after }, "the cluster change log no longer holds this instance's place; reading afresh");
      appliers.resync("cluster");
      return { cursor: page.cursor, more: true };
    }
    if (page.changes.length > 0) appliers.cluster(page.changes);
    if (!page.held) heldDelay = HELD_RETRY_MS;
    else if (heldRetry === undefined) {
      heldRetry = setTimeout(() => {
        heldRetry = undefined;
        wake();
      }, heldDelay);
      heldDelay = Math.min(heldDelay * 2, deps.pollMs);
    }
    return { cursor: page.cursor, more: page.changes.length === PAGE };
  };

  const read = async () => {
    if (eventCursor === undefined || clusterCursor === undefined) return;
    eventCursor = await readEvents(eventCursor);
    for (let more = true; more && !stopped; ) {
      const next = await readCluster(clusterCursor);
      clusterCursor = next.cursor;
      more = next.more;
    }
  };

  function wake() {
    if (stopped) return;
    if (reading) {
      again = true;
      return;
    }
    reading = read()
      .then(
        () => {
          if (failing) logger.info("reading the change logs again");
          failing = false;
        },
        (err: unknown) => {
          // The database is away: the next wake-up or poll tries again from the same place.
          if (!failing) logger.warn({ err }, "the change logs could not be read; retrying");
          failing = true;
        },
      )
      .finally(() => {
        reading = undefined;
        if (again) {
          again = false;
          wake();
        }
      });
  }

  return {
    /**
     * Takes the current end of both logs as this process's places (what is in memory is read from the database after
     * this), then follows them.
     */
    async start(): Promise<void> {
      eventCursor ??= await changeLog.latestSequence();
      clusterCursor ??= await clusterChanges.latest();
      if (!stopped) return;
      stopped = false;
      unsubscribe = storage.onChangesCommitted(wake);
      timer = setInterval(wake, deps.pollMs);
      timer.unref();
    },

    /** Reads now; resolves once nothing more is to be read that was committed before the call. For tests and tools. */
    async caughtUp(): Promise<void> {
      while (reading) await reading;
      wake();
      while (reading) await reading;
    },

    /** Stops following; resolves once a read in progress has ended. */
    async stop(): Promise<void> {
      stopped = true;
      unsubscribe?.();
      clearInterval(timer);
      clearTimeout(heldRetry);
      while (reading) await reading;
    },
  };
}

/** The follower of the change logs. */
export type ChangeFollower = ReturnType<typeof createChangeFollower>;
