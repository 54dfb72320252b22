import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * The service's Prometheus metrics, in a registry of its own (not prom-client's global one). Every label value
 * comes from a bounded set: service and method names from the descriptors, protocols, codes, store operations.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    calls: new Counter({
      name: "liveops_calls_total",
      help: "Calls answered, by service, method, protocol and code.",
      labelNames: ["service", "method", "protocol", "code"] as const,
      registers,
    }),
    duration: new Histogram({
      name: "liveops_call_duration_seconds",
      help: "Time to answer a call (for a stream: its whole life), by service and method.",
      labelNames: ["service", "method"] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    inFlight: new Gauge({ name: "liveops_calls_in_flight", help: "Calls being answered now.", registers }),
    openStreams: new Gauge({ name: "liveops_streams_open", help: "Server streams open now.", registers }),
    rateLimited: new Counter({
      name: "liveops_rate_limited_total",
      help: "Calls refused by a rate limit, by reason (RATE_LIMITED, AUTH_FAILURES_RATE_LIMITED).",
      labelNames: ["reason"] as const,
      registers,
    }),
    writeBatchSize: new Histogram({
      name: "liveops_write_batch_size",
      help: "Writes (events, run boundaries, scores, joins, counters, reward claims) committed together in one transaction (group commit).",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers,
    }),
    schedulerLeader: new Gauge({
      name: "liveops_scheduler_leader",
      help: "1 while this instance holds the scheduler's lease (announces run boundaries, finalizes runs), else 0.",
      registers,
    }),
    changesRead: new Counter({
      name: "liveops_changes_read_total",
      help: "Changes read from the change logs by this instance (its own included), by kind (event, key, score, grant, counter).",
      labelNames: ["kind"] as const,
      registers,
    }),
    changeDelay: new Histogram({
      name: "liveops_change_delay_seconds",
      help: "From a change's write (its writer's clock) to this instance reading it from the log.",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    changeListenerReconnects: new Counter({
      name: "liveops_change_listener_reconnects_total",
      help: "Times the connection that listens for other instances' changes (PostgreSQL LISTEN) was made again after a failure.",
      registers,
    }),
    audienceEvaluationFailures: new Counter({
      name: "liveops_audience_evaluation_failures_total",
      help: "Audience expressions that failed for a player (e.g. a property it lacks): the player is not in the audience.",
      registers,
    }),
    changeLogResyncs: new Counter({
      name: "liveops_change_log_resyncs_total",
      help: "Times this instance found its place in a change log pruned and read its state afresh.",
      registers,
    }),
    watchers: new Gauge({
      name: "liveops_watchers_open",
      help: "Server streams open now on this instance, by stream (liveops.v1.EventService/WatchEvents, liveops.v1.LeaderboardService/WatchLeaderboard, grpc.health.v1.Health/Watch).",
      labelNames: ["stream"] as const,
      registers,
    }),
    runsStarted: new Counter({
      name: "liveops_runs_started_total",
      help: "Runs started, counted by the instance that announced the start (the scheduler's leader): sum over instances.",
      registers,
    }),
    runsEnded: new Counter({
      name: "liveops_runs_ended_total",
      help: "Runs ended (at their end time, or early by EndEvent), counted by the instance that ended them: sum over instances.",
      registers,
    }),
    boardsFinalized: new Counter({
      name: "liveops_boards_finalized_total",
      help: "Leaderboards of ended runs finalized (final ranks, prizes), counted by the instance that finalized them: sum over instances.",
      registers,
    }),
    scoresSubmitted: new Counter({
      name: "liveops_scores_submitted_total",
      help: "SubmitScore calls answered by this instance, by outcome: accepted (committed to the board) or rejected (refused by the run's rules or the request).",
      labelNames: ["outcome"] as const,
      registers,
    }),
    grantsGiven: new Counter({
      name: "liveops_reward_grants_total",
      help: "Reward grants given to players when runs were finalized, counted by the instance that finalized them: sum over instances.",
      registers,
    }),
    claimsMade: new Counter({
      name: "liveops_reward_claims_total",
      help: "Reward grants claimed for the first time (a repeated claim is not counted), by this instance: sum over instances.",
      registers,
    }),
    dbDuration: new Histogram({
      name: "liveops_db_operation_duration_seconds",
      help: "Time of each database operation, by store and operation.",
      labelNames: ["store", "operation"] as const,
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25],
      registers,
    }),
  };
}

/** The metrics of one app. */
export type Metrics = ReturnType<typeof createMetrics>;

/** The state the state gauges show: the database's view, the same from every instance. */
export interface LiveState {
  /** Events in each status (upcoming, active, between_runs, ended). */
  eventsByStatus: Record<string, number>;
  /** Runs live now whose event has a leaderboard. */
  liveBoards: number;
  /** Players on the boards of those runs, all together. */
  boardEntries: number;
  /** Players on the largest of them. */
  largestBoard: number;
}

/** A scrape waits this long at most for the state; past it the gauges keep their last values. */
const LIVE_STATE_TIMEOUT_MS = 2000;

/**
 * Adds the gauges of the service's state (events by status, live boards and their sizes), read by `read` when
 * /metrics is scraped rather than kept up to date on every write; the gauges of one scrape (prom-client collects
 * them together) share one read, and the scrapes of the next `maxAgeMs` reuse it, so that scraping often (/metrics
 * needs no key) costs the database nothing. A read that fails or is slow leaves the values of the last one (the
 * database's own trouble shows in readiness and the call metrics).
 */
export function observeLiveState(metrics: Metrics, read: () => Promise<LiveState>, maxAgeMs: number): void {
  const registers = [metrics.registry];
  let reading: Promise<LiveState | undefined> | undefined;
  /** The last state read, and when (monotonic time: this is about the database's work, not the domain's clock). */
  let last: { state: LiveState; at: number } | undefined;
  const current = (): Promise<LiveState | undefined> => {
    if (last && performance.now() - last.at < maxAgeMs) return Promise.resolve(last.state);
    if (!reading) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), LIVE_STATE_TIMEOUT_MS);
      });
      const started = performance.now();
      reading = Promise.race([
        read().then(
          (state) => {
            last = { state, at: started };
            return state;
          },
          () => undefined,
        ),
        timeout,
      ]).finally(() => {
        clearTimeout(timer);
        reading = undefined;
      });
    }
    return reading;
  };
  new Gauge({
    name: "liveops_events",
    help: "Events in each status now (upcoming, active, between_runs, ended), read from the database at scrape: the same on every instance.",
    labelNames: ["status"] as const,
    registers,
    async collect() {
      const state = await current();
      if (state) for (const [status, count] of Object.entries(state.eventsByStatus)) this.labels(status).set(count);
    },
  });
  const boardGauge = (name: string, help: string, value: (state: LiveState) => number) =>
    new Gauge({
      name,
      help,
      registers,
      async collect() {
        const state = await current();
        if (state) this.set(value(state));
      },
    });
  boardGauge(
    "liveops_live_boards",
    "Runs live now whose event has a leaderboard, read from the database at scrape.",
    (s) => s.liveBoards,
  );
  boardGauge(
    "liveops_live_board_entries",
    "Players on the leaderboards of live runs, all boards together, read from the database at scrape.",
    (s) => s.boardEntries,
  );
  boardGauge(
    "liveops_live_board_entries_max",
    "Players on the largest leaderboard of a live run, read from the database at scrape.",
    (s) => s.largestBoard,
  );
}

/**
 * The store with each of its operations timed into `liveops_db_operation_duration_seconds`: a synchronous one until
 * it returns, an asynchronous one (a write through the group commit) until its promise settles.
 */
export function instrumentStore<T extends object>(metrics: Metrics, store: string, operations: T): T {
  const timed = {} as Record<string, unknown>;
  for (const [name, operation] of Object.entries(operations)) {
    if (typeof operation !== "function") {
      timed[name] = operation;
      continue;
    }
    const histogram = metrics.dbDuration.labels(store, name);
    timed[name] = (...args: unknown[]) => {
      const end = histogram.startTimer();
      let result: unknown;
      try {
        result = operation(...args);
      } catch (err) {
        end();
        throw err;
      }
      if (result instanceof Promise) return result.finally(end);
      end();
      return result;
    };
  }
  return timed as T;
}
