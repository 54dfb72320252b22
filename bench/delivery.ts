// How long a change made through one instance takes to reach the others: WatchEvents streams on B and C after a
// CreateEvent through A, and a score submitted through A as B and C rank it. See bench/README.md.
import { setMaxListeners } from "node:events";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EventAdminService } from "../gen/liveops/v1/event_admin_service_pb.js";
import { EventChangeType, EventService } from "../gen/liveops/v1/event_service_pb.js";
import { LeaderboardService } from "../gen/liveops/v1/leaderboard_service_pb.js";
import { cpuSeconds, type Server } from "./processes.js";
import type { SeedKeys } from "./seed.js";

/** Streams per HTTP/2 connection: under the instances' MAX_CONCURRENT_STREAMS (100 by default). */
const STREAMS_PER_CONNECTION = 90;
const HOUR = 3_600_000;

/** The figures of one delivery measurement. */
export interface DeliveryResult {
  instances: number;
  watchers: number;
  /** Instances the watchers are spread over (B, C), and the HTTP/2 connections they use. */
  watchedInstances: number;
  connections: number;
  creates: number;
  /** From sending CreateEvent to A until every watcher has the CREATED change. */
  allP50Ms: number;
  allP99Ms: number;
  allMaxMs: number;
  /** From sending CreateEvent to A until one watcher has it, over every watcher and every event. */
  eachP50Ms: number;
  eachP99Ms: number;
  /** A's answer to CreateEvent. */
  createAnswerP50Ms: number;
  /**
   * CPU ms per created event of this process (receiving every watcher's change) and of the watched instances (sending
   * them): which side the delivery times are made of.
   */
  clientCpuMsPerEvent: number;
  watchedCpuMsPerEvent: number;
  scores: number;
  /** From A's answer to SubmitScore until GetPlayerScore on B (and C) shows the score, each instance on its own. */
  scoreVisibleP50Ms: number;
  scoreVisibleP99Ms: number;
  /** A's answer to SubmitScore. */
  scoreAnswerP50Ms: number;
  /** How often B and C are asked while waiting (the granularity of scoreVisible). */
  pollEveryMs: number;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return round1(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN);
};
const round1 = (x: number) => Math.round(x * 10) / 10;

function bearer(key: string): Interceptor {
  return (next) => async (req) => {
    req.header.set("authorization", `Bearer ${key}`);
    return await next(req);
  };
}

const transportTo = (server: Server, key: string): Transport =>
  createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}`, interceptors: [bearer(key)] });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `condition` holds, checking every few ms; fails after `timeoutMs`. */
async function until(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(1);
  }
}

/**
 * Opens `watchers` WatchEvents streams spread over `watched` (gRPC, STREAMS_PER_CONNECTION per HTTP/2 connection),
 * then creates `creates` events through `writer`, one at a time, each once every watcher has the previous one; then
 * submits `scores` scores through `writer` and asks `watched` for them until they show. The caller runs on a core
 * of its own: receiving the changes of 1,000 streams in this process is part of what is measured.
 */
export async function measureDelivery(options: {
  instances: number;
  writer: Server;
  watched: Server[];
  keys: SeedKeys;
  watchers: number;
  creates: number;
  scores: number;
  competitionId: string;
  /** Where the created events start: far enough ahead that they disturb nothing else. */
  createStart: number;
}): Promise<DeliveryResult> {
  const { writer, watched, keys } = options;
  const perServer = Math.ceil(options.watchers / watched.length);
  const connectionsPerServer = Math.ceil(perServer / STREAMS_PER_CONNECTION);
  const clients = watched.map((server) =>
    Array.from({ length: connectionsPerServer }, () => createClient(EventService, transportTo(server, keys.key))),
  );
  /** When each watcher got each event's CREATED change (performance.now()), by event id. */
  const arrivals = new Map<string, number[]>();
  let synced = 0;
  const abort = new AbortController();
  // One signal for every stream: each adds its listener.
  setMaxListeners(options.watchers + 10, abort.signal);
  const streams = Array.from({ length: options.watchers }, async (_, i) => {
    const onServer = clients[i % watched.length] ?? [];
    const client = onServer[Math.floor(i / watched.length) % onServer.length];
    if (!client) throw new Error("no client");
    try {
      for await (const message of client.watchEvents({}, { signal: abort.signal })) {
        if (message.type === EventChangeType.SYNCED) synced++;
        else if (message.type === EventChangeType.CREATED && message.event) {
          const at = performance.now();
          const times = arrivals.get(message.event.id);
          if (times) times.push(at);
          else arrivals.set(message.event.id, [at]);
        }
      }
    } catch (error) {
      if (!(abort.signal.aborted && ConnectError.from(error).code === Code.Canceled)) throw error;
    }
  });
  // A stream that fails fails the measurement, at once.
  let failure: unknown;
  for (const stream of streams) stream.catch((error: unknown) => (failure ??= error));
  const check = () => {
    if (failure) throw failure;
  };
  try {
    const allSynced = () => {
      check();
      return synced === options.watchers;
    };
    await until("every watcher is synced", allSynced, 60_000);
    const admin = createClient(EventAdminService, transportTo(writer, keys.operatorKey));
    const all: number[] = [];
    const each: number[] = [];
    const createAnswers: number[] = [];
    const clientBefore = process.cpuUsage();
    const watchedBefore = cpuSeconds(watched.map((s) => s.child.pid ?? 0));
    for (let i = 0; i < options.creates; i++) {
      const start = options.createStart + i * HOUR;
      const sent = performance.now();
      const { event } = await admin.createEvent({
        event: {
          title: `Delivery probe ${i}`,
          startTime: timestampFromMs(start),
          endTime: timestampFromMs(start + 2 * HOUR),
        },
      });
      createAnswers.push(performance.now() - sent);
      const id = event?.id ?? "";
      const reachedAll = () => {
        check();
        return (arrivals.get(id)?.length ?? 0) >= options.watchers;
      };
      await until(`event ${i} reaches every watcher`, reachedAll, 30_000);
      const times = (arrivals.get(id) ?? []).map((at) => at - sent);
      each.push(...times);
      all.push(Math.max(...times));
    }

    const client = process.cpuUsage(clientBefore);
    const clientCpuMsPerEvent = round1((client.user + client.system) / 1000 / options.creates);
    const watchedCpuMsPerEvent = round1(
      ((cpuSeconds(watched.map((s) => s.child.pid ?? 0)) - watchedBefore) * 1000) / options.creates,
    );

    const boards = createClient(LeaderboardService, transportTo(writer, keys.gameServerKey));
    const readers = watched.map((server) => createClient(LeaderboardService, transportTo(server, keys.gameServerKey)));
    const pollEveryMs = 2;
    const playerId = `visibility-probe-${Date.now()}`;
    const visible: number[] = [];
    const scoreAnswers: number[] = [];
    for (let i = 1; i <= options.scores; i++) {
      const sent = performance.now();
      await boards.submitScore({ eventId: options.competitionId, playerId, score: 1n });
      const answered = performance.now();
      scoreAnswers.push(answered - sent);
      const seen = await Promise.all(
        readers.map(async (reader) => {
          for (;;) {
            const score = await reader.getPlayerScore({ eventId: options.competitionId, playerId }).then(
              (r) => r.entry?.score,
              () => undefined,
            );
            if (score === BigInt(i)) return performance.now() - answered;
            if (performance.now() - answered > 30_000) throw new Error(`score ${i} not visible within 30 s`);
            await sleep(pollEveryMs);
          }
        }),
      );
      visible.push(...seen);
    }
    return {
      instances: options.instances,
      watchers: options.watchers,
      watchedInstances: watched.length,
      connections: connectionsPerServer * watched.length,
      creates: options.creates,
      allP50Ms: percentile(all, 0.5),
      allP99Ms: percentile(all, 0.99),
      allMaxMs: round1(Math.max(...all)),
      eachP50Ms: percentile(each, 0.5),
      eachP99Ms: percentile(each, 0.99),
      createAnswerP50Ms: percentile(createAnswers, 0.5),
      clientCpuMsPerEvent,
      watchedCpuMsPerEvent,
      scores: options.scores,
      scoreVisibleP50Ms: percentile(visible, 0.5),
      scoreVisibleP99Ms: percentile(visible, 0.99),
      scoreAnswerP50Ms: percentile(scoreAnswers, 0.5),
      pollEveryMs,
    };
  } finally {
    abort.abort();
    await Promise.allSettled(streams);
  }
}
