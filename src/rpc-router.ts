import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, ConnectRouterOptions, Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { ApiKeyService } from "../gen/liveops/v1/api_key_service_pb.js";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import { AuditService } from "../gen/liveops/v1/audit_service_pb.js";
import { CounterService } from "../gen/liveops/v1/counter_service_pb.js";
import { EventAdminService } from "../gen/liveops/v1/event_admin_service_pb.js";
import { EventChangeType, EventService } from "../gen/liveops/v1/event_service_pb.js";
import { LeaderboardService } from "../gen/liveops/v1/leaderboard_service_pb.js";
import { PlayerService } from "../gen/liveops/v1/player_service_pb.js";
import { RewardService } from "../gen/liveops/v1/reward_service_pb.js";
import { SessionService } from "../gen/liveops/v1/session_service_pb.js";
import { createAudienceCatalog } from "./audiences/audience-catalog.js";
import { audienceEtag, createAudienceService } from "./audiences/audience-service.js";
import { createAudienceStore } from "./audiences/audience-store.js";
import { createAuditLog } from "./audit/audit-log.js";
import { createAuditService } from "./audit/audit-service.js";
import { type AccessControl, createAccessControl, createAuthInterceptor, startedOnly } from "./auth/access-control.js";
import { createRateLimits } from "./auth/rate-limits.js";
import type { Clock } from "./clock.js";
import { type ClusterInstance, createClusterInstance } from "./cluster/cluster-instance.js";
import type { Config } from "./config.js";
import { createCounterService } from "./counters/counter-service.js";
import { isPostgresStorage } from "./db/postgres-storage.js";
import { databaseSecret } from "./db/settings.js";
import type { Storage } from "./db/storage.js";
import { StorageUnavailableError } from "./db/storage-errors.js";
import { createEventAdminService } from "./events/event-admin-service.js";
import { createChangeLog } from "./events/event-changes.js";
import { createEventFeed, type EventFeed } from "./events/event-feed.js";
import { createRunQueries } from "./events/event-runs.js";
import { createEventScheduler, type EventScheduler } from "./events/event-scheduler.js";
import { createEventService } from "./events/event-service.js";
import { createEventStore } from "./events/event-store.js";
import { createRecurrenceExpander, type RecurrenceExpander } from "./events/recurrence-expander.js";
import { createBoundaryQueries } from "./events/run-boundaries.js";
import { createRunReports } from "./events/run-reports.js";
import { createWatchEvents } from "./events/watch-events.js";
import { createHealth, createHealthService } from "./health/health-service.js";
import { createApiKeyService } from "./keys/api-key-service.js";
import { createKeyStore, type KeyStore } from "./keys/key-store.js";
import { createSessionService } from "./keys/session-service.js";
import { createLeaderboardService } from "./leaderboards/leaderboard-service.js";
import { createScoreStore, type ScoreStore, type ScoreStoreHooks } from "./leaderboards/score-store.js";
import { createWatchLeaderboard } from "./leaderboards/watch-leaderboard.js";
import { instrumentStore, type Metrics } from "./metrics/metrics.js";
import { createPageTokens } from "./page-token.js";
import { createPlayerService } from "./players/player-service.js";
import { createPlayerStore } from "./players/player-store.js";
import { createPlayerTokens } from "./players/player-tokens.js";
import { createPlayerTargeting } from "./players/player-view.js";
import { createReflectionServices } from "./reflection/reflection-service.js";
import { createGrantStore } from "./rewards/grant-store.js";
import { createRewardService } from "./rewards/reward-service.js";
import { createCallInterceptors } from "./server/call-interceptors.js";
import type { CallObserver } from "./server/call-observer.js";
import { jsonWriteOptions } from "./server/rest-routes.js";

/**
 * Walks of recurrence rules, on up to two worker threads: a write's a second at most (a valid rule's longest walk,
 * 5,000 runs of a bounded series, takes tens of milliseconds), a ListEventRuns page's 250 ms (2,000 occurrences of
 * an every-minute rule take ~15 ms), with bounded queues of which one API key may fill half, keys taking turns.
 */
const RECURRENCE_WALKS = {
  timeoutMs: 1000,
  readTimeoutMs: 250,
  workers: 2,
  maxQueued: 256,
  maxQueuedReads: 16,
};

/** The services of the API, each listed by health checking and reflection. */
export const apiServices: readonly DescService[] = [
  EventService,
  EventAdminService,
  LeaderboardService,
  RewardService,
  CounterService,
  SessionService,
  PlayerService,
  AudienceService,
  ApiKeyService,
  AuditService,
];

/** The service implementations and what guards them, over one database. */
export interface Services {
  keys: KeyStore;
  access: AccessControl;
  health: ReturnType<typeof createHealth>;
  eventService: ReturnType<typeof createEventService> & { watchEvents: ReturnType<typeof createWatchEvents> };
  /** Run boundaries: run while this instance holds the scheduler's lease (see `cluster`). */
  scheduler: EventScheduler;
  /** This instance among those on the database: follows the change logs, seeks the scheduler's lease. */
  cluster: ClusterInstance;
  /**
   * What needs the database before the services can answer: the key that signs page tokens, the live boards, the
   * scheduler's first pass; then `beforeReady`, and only then is the service ready. Rejects while the database
   * cannot be reached; the app tries again.
   */
  start(beforeReady?: () => Promise<void>): Promise<void>;
  /** The worker threads that walk recurrence rules: closed when the app closes. */
  expander: RecurrenceExpander;
  /** The watchers of WatchEvents. */
  feed: EventFeed;
  /** The boards of runs; the app loads the live ones at start-up. */
  scores: ScoreStore;
  leaderboardService: ReturnType<typeof createLeaderboardService> & {
    watchLeaderboard: ReturnType<typeof createWatchLeaderboard>;
  };
  rewardService: ReturnType<typeof createRewardService>;
  counterService: ReturnType<typeof createCounterService>;
  sessionService: ReturnType<typeof createSessionService>;
  eventAdminService: ReturnType<typeof createEventAdminService>;
  playerService: ReturnType<typeof createPlayerService>;
  audienceService: ReturnType<typeof createAudienceService>;
  apiKeyService: ReturnType<typeof createApiKeyService>;
  auditService: ReturnType<typeof createAuditService>;
  healthService: ReturnType<typeof createHealthService>;
}

/**
 * Builds every service over `storage` (without reaching the database: see `start`). `streamsShutdown` ends open
 * server streams with UNAVAILABLE when it aborts.
 */
export function createServices(
  storage: Storage,
  deps: {
    clock: Clock;
    config: Pick<
      Config,
      | "maxMessageBytes"
      | "rateLimits"
      | "authFailureLimit"
      | "rateLimitStore"
      | "watchHeartbeatMs"
      | "watchQueueLimit"
      | "watchMaxStreams"
      | "changeLogRetain"
      | "changePollMs"
      | "schedulerTakeoverMs"
      | "clusterChangesRetainMs"
      | "leaderboardWatchIntervalMs"
    >;
    metrics: Metrics;
    logger: Logger;
    streamsShutdown: AbortSignal;
    /** Points inside the services' work where a test may act; none in production. */
    hooks?: ScoreStoreHooks;
  },
): Services {
  const { clock, config, metrics } = deps;
  const { reads } = storage;
  const keys = instrumentStore(metrics, "keys", createKeyStore(storage));
  let pageTokenKey: Buffer | undefined;
  const pageTokens = createPageTokens(() => {
    if (!pageTokenKey) throw new StorageUnavailableError("the server has not reached its database yet");
    return pageTokenKey;
  });
  const expander = createRecurrenceExpander(RECURRENCE_WALKS);
  const runs = instrumentStore(metrics, "event_runs", createRunQueries(reads, expander));
  const changeLog = createChangeLog(reads, runs, { retain: config.changeLogRetain });
  const store = instrumentStore(metrics, "events", createEventStore(storage, runs, changeLog));
  const players = instrumentStore(metrics, "players", createPlayerStore(storage));
  const audiences = instrumentStore(metrics, "audiences", createAudienceStore(storage, audienceEtag));
  const audienceCatalog = createAudienceCatalog(audiences, metrics);
  const playerTokens = createPlayerTokens(storage);
  const targeting = createPlayerTargeting(players, audienceCatalog);
  const eventDeps = {
    targeting,
    store,
    runs,
    expander,
    changeLog,
    clock,
    pageTokens,
    pageBudgetBytes: config.maxMessageBytes - 64 * 1024,
  };
  const feed = createEventFeed(clock, { queueLimit: config.watchQueueLimit, maxWatchers: config.watchMaxStreams });
  const scheduler = createEventScheduler({
    boundaries: instrumentStore(metrics, "run_boundaries", createBoundaryQueries(reads)),
    store,
    changeLog,
    runs,
    expander,
    clock,
    logger: deps.logger,
  });
  keys.onKeyChange(() => feed.pokeAll());
  const scores = createScoreStore(storage, deps.hooks);
  const grants = instrumentStore(metrics, "grants", createGrantStore(reads));
  const runReports = createRunReports({ logger: deps.logger, metrics, grants });
  // A run's board is finalized (ranks, reward grants) in the transaction in which the run ends.
  store.onRunEnded((tx, row, run, at) => scores.finalizeRun(tx, row, run, at));
  // Every instance learns of changes from the logs (cluster); this one's own are also applied as they commit, so
  // that its next call sees them: an ended run's final ranks, a deleted event's boards gone, the next boundary.
  store.onChanges((changes) => {
    runReports.committed(changes);
    for (const change of changes) {
      if (change.type === EventChangeType.DELETED && change.event) scores.dropEvent(change.event.id);
      if (change.type === EventChangeType.ENDED && change.event && change.run) {
        scores.dropRun(change.event.id, Number(change.run.runNumber));
      }
    }
    void scheduler.reschedule();
  });
  const cluster = createClusterInstance({
    storage,
    changeLog,
    feed,
    scheduler,
    scores,
    keys,
    audiences: audienceCatalog,
    playerTokens,
    metrics,
    logger: deps.logger,
    clock,
    config,
  });
  // On PostgreSQL every instance counts in one table: a key's limit holds across instances.
  const limits = createRateLimits(
    { roleDefaults: config.rateLimits, authFailures: config.authFailureLimit },
    isPostgresStorage(storage) && config.rateLimitStore === "database" ? storage.pool : undefined,
  );
  let started = false;
  const health = createHealth(
    apiServices.map((s) => s.typeName),
    () => started && storage.isReady(),
  );
  const access = startedOnly(createAccessControl(keys, clock, limits, playerTokens), () => started);
  const watchEvents = createWatchEvents({
    store,
    changeLog,
    feed,
    access,
    clock,
    heartbeatMs: config.watchHeartbeatMs,
    streamsShutdown: deps.streamsShutdown,
    targeting,
  });
  const watchLeaderboard = createWatchLeaderboard({
    store,
    scores,
    access,
    onKeyChange: (listener) => keys.onKeyChange(listener),
    clock,
    intervalMs: config.leaderboardWatchIntervalMs,
    heartbeatMs: config.watchHeartbeatMs,
    streamsShutdown: deps.streamsShutdown,
  });
  return {
    keys,
    access,
    health,
    scheduler,
    cluster,
    async start(beforeReady) {
      pageTokenKey ??= await databaseSecret(storage, "page_token_key");
      // The logs first: a change committed while the boards are read is applied to them after.
      await cluster.follow();
      await scores.preloadLiveBoards(clock.now());
      await cluster.seekSchedulerLease();
      await beforeReady?.();
      started = true;
    },
    expander,
    feed,
    scores,
    leaderboardService: {
      ...createLeaderboardService({
        store,
        runs,
        scores,
        storage,
        clock,
        pageTokens,
        boardsSynced: cluster.synced,
        targeting,
        metrics,
      }),
      watchLeaderboard,
    },
    rewardService: createRewardService({ grants, storage, clock, pageTokens, logger: deps.logger, metrics }),
    counterService: createCounterService({ storage, clock }),
    sessionService: createSessionService(keys),
    eventService: { ...createEventService(eventDeps), watchEvents },
    eventAdminService: createEventAdminService(eventDeps),
    playerService: createPlayerService({ players, tokens: playerTokens, clock, pageTokens }),
    audienceService: createAudienceService({ audiences, players, clock, pageTokens }),
    apiKeyService: createApiKeyService({ keys, clock, pageTokens }),
    auditService: createAuditService({
      auditLog: instrumentStore(metrics, "audit", createAuditLog(reads)),
      pageTokens,
    }),
    healthService: createHealthService(health, deps.streamsShutdown),
  };
}

/**
 * The Connect router of the service: its routes and options (interceptors, limits, JSON options), for the Node
 * handler — whose unary fast path runs the same interceptors — and for in-memory router transports alike.
 */
export function createRpcRouter(
  services: Services,
  deps: {
    observer: CallObserver;
    metrics: Metrics;
    config: Pick<Config, "defaultDeadlineMs" | "maxDeadlineMs" | "maxMessageBytes" | "reflectionEnabled">;
  },
): {
  routes: (router: ConnectRouter) => void;
  options: ConnectRouterOptions & { interceptors: Interceptor[] };
} {
  return {
    routes(router) {
      router.service(EventService, services.eventService);
      router.service(EventAdminService, services.eventAdminService);
      router.service(LeaderboardService, services.leaderboardService);
      router.service(RewardService, services.rewardService);
      router.service(CounterService, services.counterService);
      router.service(SessionService, services.sessionService);
      router.service(PlayerService, services.playerService);
      router.service(AudienceService, services.audienceService);
      router.service(ApiKeyService, services.apiKeyService);
      router.service(AuditService, services.auditService);
      router.service(Health, services.healthService);
      if (deps.config.reflectionEnabled) {
        const reflection = createReflectionServices([...apiServices, Health, ReflectionV1, ReflectionV1alpha]);
        router.service(ReflectionV1, reflection.v1);
        router.service(ReflectionV1alpha, reflection.v1alpha);
      }
    },
    options: {
      interceptors: createCallInterceptors({
        observer: deps.observer,
        metrics: deps.metrics,
        defaultDeadlineMs: deps.config.defaultDeadlineMs,
        inner: [createAuthInterceptor(services.access)],
      }),
      readMaxBytes: deps.config.maxMessageBytes,
      writeMaxBytes: deps.config.maxMessageBytes,
      maxTimeoutMs: deps.config.maxDeadlineMs,
      jsonOptions: jsonWriteOptions,
    },
  };
}
