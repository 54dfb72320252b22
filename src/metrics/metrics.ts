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
