import type { Logger } from "pino";
import { EventChangeType, type WatchEventsResponse } from "../../gen/liveops/v1/event_service_pb.js";
import type { AudienceCatalog } from "../audiences/audience-catalog.js";
import type { Clock } from "../clock.js";
import type { Lease, Storage } from "../db/storage.js";
import type { ChangeLog } from "../events/event-changes.js";
import type { EventFeed } from "../events/event-feed.js";
import type { EventScheduler } from "../events/event-scheduler.js";
import type { KeyStore } from "../keys/key-store.js";
import type { LoggedScore, ScoreStore } from "../leaderboards/score-store.js";
import type { Metrics } from "../metrics/metrics.js";
import type { PlayerTokens } from "../players/player-tokens.js";
import { type ChangeFollower, createChangeFollower } from "./change-follower.js";
import { type ClusterChange, createClusterChanges } from "./cluster-changes.js";

/** The name of the lease of the instance that schedules run boundaries. */
const SCHEDULER_LEASE = "scheduler";
/** How often the scheduling instance prunes the cluster change log. */
const PRUNE_EVERY_MS = 10_000;

/** What one liveops instance keeps in memory, and how it learns of changes made through any instance. */
export interface ClusterInstanceDeps {
  storage: Storage;
  changeLog: ChangeLog;
  feed: EventFeed;
  scheduler: EventScheduler;
  scores: ScoreStore;
  keys: KeyStore;
  audiences: Pick<AudienceCatalog, "changed">;
  playerTokens: Pick<PlayerTokens, "keysChanged">;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  config: { changePollMs: number; schedulerTakeoverMs: number; clusterChangesRetainMs: number };
}

/**
 * One instance among those sharing a database (one alone on SQLite). Every change, through whichever instance, reaches
 * this one from the change logs: WatchEvents streams get event changes, the scheduler looks again for its next
 * boundary, boards of ended or deleted runs are dropped, boards in memory take logged scores and joins, and kept key
 * matches are dropped when a key changes. The instance that holds the scheduler's lease announces run boundaries
 * (and finalizes runs) and prunes the cluster change log; when it dies another takes the lease.
 */
export function createClusterInstance(deps: ClusterInstanceDeps) {
  const { storage, feed, scheduler, scores, keys, audiences, playerTokens, metrics, logger, clock, config } = deps;
  const clusterChanges = createClusterChanges(storage.reads);
  let lease: Lease | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;

  const observe = (kind: string, time: number) => {
    metrics.changesRead.labels(kind).inc();
    metrics.changeDelay.observe(Math.max(0, clock.now() - time) / 1000);
  };

  const follower: ChangeFollower = createChangeFollower({
    storage,
    changeLog: deps.changeLog,
    clusterChanges,
    pollMs: config.changePollMs,
    retainMs: config.clusterChangesRetainMs,
    logger,
    appliers: {
      events(changes: readonly WatchEventsResponse[]) {
        feed.publish(changes);
        for (const change of changes) {
          observe("event", Number(change.time?.seconds ?? 0n) * 1000 + (change.time?.nanos ?? 0) / 1e6);
          const eventId = change.event?.id;
          if (!eventId) continue;
          if (change.type === EventChangeType.DELETED) scores.dropEvent(eventId);
          // A board read while its run was being finalized may have been kept again: the committed end drops it.
          if (change.type === EventChangeType.ENDED && change.run)
            scores.dropRun(eventId, Number(change.run.runNumber));
        }
        void scheduler.reschedule();
      },
      cluster(changes: readonly ClusterChange[]) {
        let keysChanged = false;
        for (const change of changes) {
          observe(change.kind, change.time);
          if (change.kind === "score") scores.applyLogged(change.subject, change.body as LoggedScore);
          else if (change.kind === "key") keysChanged = true;
          else if (change.kind === "audience") audiences.changed();
          else if (change.kind === "player_token_key") playerTokens.keysChanged();
          // Grants and counters: nothing of them is kept in memory (GetEvent checks its counters' revision).
        }
        if (keysChanged) keys.keysChanged();
      },
      resync(log) {
        metrics.changeLogResyncs.inc();
        // Watchers cannot be told what they missed: they end, and resume (after_sequence) or start afresh.
        if (log === "events") feed.dropAll();
        scores.dropAll();
        keys.keysChanged();
        audiences.changed();
        playerTokens.keysChanged();
      },
    },
  });

  /** Deletes what every instance has had time to read, in short transactions. */
  const prune = async () => {
    try {
      const cutoff = clock.now() - config.clusterChangesRetainMs;
      let pruned = 0;
      let batch: number;
      do {
        batch = await storage.withTransaction((tx) => clusterChanges.prune(tx, cutoff));
        pruned += batch;
      } while (batch > 0 && lease?.held);
      if (pruned > 0) logger.debug({ pruned }, "cluster changes pruned");
    } catch (err) {
      logger.warn({ err }, "the cluster change log could not be pruned; trying again later");
    }
  };

  const lead = (held: boolean) => {
    metrics.schedulerLeader.set(held ? 1 : 0);
    clearInterval(pruneTimer);
    if (held) {
      logger.info("this instance holds the scheduler's lease: it announces run boundaries");
      scheduler.start();
      pruneTimer = setInterval(() => void prune(), PRUNE_EVERY_MS);
      pruneTimer.unref();
    } else {
      logger.info("this instance does not hold the scheduler's lease (another does, or the database is away)");
      void scheduler.stop();
    }
  };

  return {
    /** Starts following the change logs from their current end: call before reading state from the database. */
    follow: () => follower.start(),

    /**
     * Seeks the scheduler's lease: this instance schedules run boundaries whenever it holds it. Resolves once it has
     * tried to take it: an instance alone on its database schedules from the moment it is ready.
     */
    async seekSchedulerLease(): Promise<void> {
      lease ??= storage.holdLease(SCHEDULER_LEASE, { retryMs: config.schedulerTakeoverMs, onChange: lead });
      await lease.tried;
    },

    /** Whether this instance schedules run boundaries now. */
    get leading(): boolean {
      return lease?.held ?? false;
    },

    /**
     * Resolves once every change committed (through any instance) before the call has been read and applied, e.g. so
     * that an answer from memory is exact as of the caller's own commit. At once on SQLite, where every write is this
     * process's own and applied as it commits.
     */
    synced: (): Promise<void> => (storage.dialect === "postgres" ? follower.synced() : Promise.resolve()),

    /**
     * Stops the scheduler (resolves once a pass in progress has ended), then gives up the lease — in that order, so
     * that the next leader's passes never overlap this one's — and stops following.
     */
    async stop(): Promise<void> {
      clearInterval(pruneTimer);
      await scheduler.stop();
      await lease?.release();
      await follower.stop();
    },
  };
}

/** One instance's part in the cluster. */
export type ClusterInstance = ReturnType<typeof createClusterInstance>;
