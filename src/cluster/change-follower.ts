import type { Logger } from "pino";
import type { WatchEventsResponse } from "../../gen/liveops/v1/event_service_pb.js";
import type { Storage } from "../db/storage.js";
import type { ChangeLog } from "../events/event-changes.js";
import type { ClusterChange, ClusterChanges, ClusterCursor } from "./cluster-changes.js";

/** Changes read at once from the cluster log; a reader further behind reads its state afresh. */
const PAGE = 10_000;

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
 * One read at a time; wake-ups during a read make one more, after it.
 */
export function createChangeFollower(deps: {
  storage: Storage;
  changeLog: ChangeLog;
  clusterChanges: ClusterChanges;
  appliers: ChangeAppliers;
  pollMs: number;
  /** How long the cluster log keeps changes (CLUSTER_CHANGES_RETAIN_MS). */
  retainMs: number;
  logger: Logger;
}) {
  const { storage, changeLog, clusterChanges, appliers, logger } = deps;
  let eventCursor: number | undefined;
  let clusterCursor: ClusterCursor | undefined;
  /** The read in progress, if any, and the one asked for while it runs (at most one: it reads everything). */
  let reading: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  let failing = false;
  /** When the last read that succeeded started (performance.now()). */
  let lastRead = Number.POSITIVE_INFINITY;
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

  const readCluster = async (after: ClusterCursor): Promise<ClusterCursor> => {
    const page = await clusterChanges.after(after, PAGE);
    if (page.kind === "behind") {
      logger.warn(`more than ${PAGE} cluster changes wait: reading this instance's state afresh`);
      appliers.resync("cluster");
    } else if (page.changes.length > 0) appliers.cluster(page.changes);
    return page.cursor;
  };

  const read = async () => {
    if (eventCursor === undefined || clusterCursor === undefined) return;
    let cluster = clusterCursor;
    // Away longer than half of what the cluster log keeps (the database was unreachable, the process paused): what
    // it missed may be pruned already. Its state is read afresh from changes after now.
    const started = performance.now();
    if (started - lastRead > deps.retainMs / 2) {
      logger.warn("this instance has not read the cluster change log for a long time: reading its state afresh");
      cluster = await clusterChanges.latest();
      appliers.resync("cluster");
    }
    eventCursor = await readEvents(eventCursor);
    clusterCursor = await readCluster(cluster);
    lastRead = started;
  };

  const startRead = (): Promise<void> => {
    const done = read()
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
        if (reading === done) reading = undefined;
      });
    reading = done;
    return done;
  };

  /** A read that starts after this call: now, or after the one in progress. Resolves when it has ended. */
  const wake = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (!reading) return startRead();
    next ??= reading.then(() => {
      next = undefined;
      return stopped ? undefined : startRead();
    });
    return next;
  };

  return {
    /**
     * Takes the current end of both logs as this process's places (what is in memory is read from the database after
     * this), then follows them.
     */
    async start(): Promise<void> {
      eventCursor ??= await changeLog.latestSequence();
      clusterCursor ??= await clusterChanges.latest();
      lastRead = performance.now();
      if (!stopped) return;
      stopped = false;
      unsubscribe = storage.onChangesCommitted(() => void wake());
      timer = setInterval(() => void wake(), deps.pollMs);
      timer.unref();
    },

    /**
     * Resolves once a read that started after this call has ended: every change committed before the call has been
     * applied (unless the database could not be read; then at the end of the failed read).
     */
    synced: (): Promise<void> => wake(),

    /** Stops following; resolves once a read in progress has ended. */
    async stop(): Promise<void> {
      stopped = true;
      unsubscribe?.();
      clearInterval(timer);
      while (reading || next) await (next ?? reading);
    },
  };
}

/** The follower of the change logs. */
export type ChangeFollower = ReturnType<typeof createChangeFollower>;
