// WatchLeaderboard at scale: many watchers of one live board while it takes thousands of scores a second. See
// bench/README.md, "Watch streams at scale".
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  SubmitScoreRequestSchema,
  SubmitScoreResponseSchema,
  WatchLeaderboardRequestSchema,
  WatchLeaderboardResponseSchema,
} from "../gen/liveops/v1/leaderboard_service_pb.js";
import { cpuSeconds, type Server, treeCpuSeconds } from "./processes.js";
import { type Memory, memoryOf, percentileOf, until } from "./watch-delivery.js";
import { createConnections, grpcFrame, openStream, type StreamEnd, unaryCall } from "./watch-streams.js";

const WATCH_PATH = "/liveops.v1.LeaderboardService/WatchLeaderboard";
const SUBMIT_PATH = "/liveops.v1.LeaderboardService/SubmitScore";

/** The figures of one run of the score load, with or without watchers. */
export interface BoardLoad {
  watchers: number;
  /** Scores a second asked for, and answered (each stored durably) on average over the run. */
  askedPerSecond: number;
  answeredPerSecond: number;
  /** Scores not sent on time because `maxInFlight` were already waiting. */
  notSent: number;
  failed: number;
  /** SubmitScore's latency, ms. */
  submitP50Ms: number;
  submitP99Ms: number;
  /**
   * From SubmitScore's answer (the score committed) until a watcher's message shows that total, for each value a
   * watcher saw change (its watched player's entry and the top entries): p50, p99, max in ms. Includes the stream's
   * coalescing interval (LEADERBOARD_WATCH_INTERVAL_MS) by design.
   */
  lag: { samples: number; p50: number; p99: number; max: number };
  /** Messages the watchers received a second, all together. */
  messagesPerSecond: number;
  /** Cores the server used on average (1 = a whole core), and PostgreSQL's on PostgreSQL. */
  serverCores: number;
  postgresCores?: number;
  /** This process's cores: the load generator and every watcher's decoding. */
  clientCores: number;
  /** Server memory with the watchers open, and at the end of the run. */
  open: Memory;
  after: Memory;
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * Opens `watchers` WatchLeaderboard streams of `competitionId` (top 10, watcher i also watching player i), waits for
 * each one's first message, then submits scores (INCR, 1 to 100) for `players` players picked at random at
 * `rate` a second for `seconds`, open loop with at most `maxInFlight` waiting, and measures how late the watchers
 * see the committed totals.
 */
export async function measureBoardLoad(options: {
  server: Server;
  viewerKey: string;
  gameServerKey: string;
  competitionId: string;
  watchers: number;
  players: number;
  rate: number;
  seconds: number;
  maxInFlight: number;
  /** The PostgreSQL server's postmaster, whose CPU is counted too. */
  postmaster?: number;
}): Promise<BoardLoad> {
  const { server, watchers, competitionId } = options;
  const pid = server.child.pid ?? 0;
  const run = `${Date.now().toString(36)}`;
  const playerId = (i: number) => `board-${run}-${i}`;
  /** When SubmitScore answered each (player, total), performance.now(). */
  const committed = new Map<string, number>();
  /** What watchers saw: a (player, total) and when, resolved against `committed` at the end. */
  const seen: { key: string; at: number }[] = [];
  let messages = 0;
  let failure: StreamEnd | undefined;
  let closing = false;
  const watchConnections = createConnections(server.port, 100);
  let first = 0;
  for (let i = 0; i < watchers; i++) {
    const body = grpcFrame(
      toBinary(
        WatchLeaderboardRequestSchema,
        create(WatchLeaderboardRequestSchema, { eventId: competitionId, topN: 10, playerId: playerId(i) }),
      ),
    );
    const last = new Map<string, bigint>();
    let started = false;
    openStream(watchConnections, {
      path: WATCH_PATH,
      authorization: `Bearer ${options.viewerKey}`,
      body,
      onMessage: (bytes, at) => {
        if (!started) {
          started = true;
          first++;
        }
        messages++;
        const message = fromBinary(WatchLeaderboardResponseSchema, bytes);
        for (const entry of message.player ? [message.player, ...message.top] : message.top) {
          if (last.get(entry.playerId) === entry.score) continue;
          last.set(entry.playerId, entry.score);
          seen.push({ key: `${entry.playerId}:${entry.score}`, at });
        }
      },
      onEnd: (end) => {
        if (!closing) failure ??= end;
      },
    });
  }
  const check = () => {
    if (failure) throw new Error(`a leaderboard watcher ended: ${JSON.stringify(failure)}`);
  };
  const load = createConnections(server.port, 100);
  try {
    await until(
      `${watchers} leaderboard watchers started`,
      () => {
        check();
        return first === watchers;
      },
      120_000,
    );
    seen.length = 0;
    messages = 0;
    const open = memoryOf(pid);
    const totals = new Map<string, bigint>();
    const latencies: number[] = [];
    let inFlight = 0;
    let sent = 0;
    let notSent = 0;
    let failed = 0;
    let answered = 0;
    const submit = async () => {
      const player = playerId(Math.floor(Math.random() * options.players));
      const body = grpcFrame(
        toBinary(
          SubmitScoreRequestSchema,
          create(SubmitScoreRequestSchema, {
            eventId: competitionId,
            playerId: player,
            score: BigInt(1 + Math.floor(Math.random() * 100)),
          }),
        ),
      );
      inFlight++;
      const start = performance.now();
      const result = await unaryCall(load, SUBMIT_PATH, `Bearer ${options.gameServerKey}`, body);
      const at = performance.now();
      inFlight--;
      if (!result.ok) {
        failed++;
        return;
      }
      answered++;
      latencies.push(at - start);
      const entry = fromBinary(SubmitScoreResponseSchema, result.bytes).entry;
      if (entry) {
        committed.set(`${entry.playerId}:${entry.score}`, at);
        totals.set(entry.playerId, entry.score);
      }
    };
    const cpuBefore = cpuSeconds([pid]);
    const postgresBefore = options.postmaster ? treeCpuSeconds(options.postmaster) : 0;
    const clientBefore = process.cpuUsage();
    const startedAt = performance.now();
    const endAt = startedAt + options.seconds * 1000;
    // Open loop: every ms, send what is due by now, unless maxInFlight are waiting (those are counted as not sent).
    while (performance.now() < endAt) {
      check();
      const due = Math.floor(((performance.now() - startedAt) / 1000) * options.rate);
      while (sent + notSent < due) {
        if (inFlight >= options.maxInFlight) notSent++;
        else {
          sent++;
          void submit();
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const elapsed = (performance.now() - startedAt) / 1000;
    const answeredInTime = answered;
    const serverCores = (cpuSeconds([pid]) - cpuBefore) / elapsed;
    const postgresCores = options.postmaster ? (treeCpuSeconds(options.postmaster) - postgresBefore) / elapsed : 0;
    const client = process.cpuUsage(clientBefore);
    const messagesPerSecond = messages / elapsed;
    // The last interval's messages, then the calls still waiting.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await until("the scores still waiting", () => inFlight === 0, 120_000);
    const lags = seen.flatMap(({ key, at }) => {
      const when = committed.get(key);
      return when === undefined ? [] : [at - when];
    });
    lags.sort((a, b) => a - b);
    latencies.sort((a, b) => a - b);
    return {
      watchers,
      askedPerSecond: options.rate,
      answeredPerSecond: Math.round(answeredInTime / elapsed),
      notSent,
      failed,
      submitP50Ms: round1(percentileOf(latencies, 0.5)),
      submitP99Ms: round1(percentileOf(latencies, 0.99)),
      lag: {
        samples: lags.length,
        p50: round1(percentileOf(lags, 0.5)),
        p99: round1(percentileOf(lags, 0.99)),
        max: round1(lags.at(-1) ?? Number.NaN),
      },
      messagesPerSecond: Math.round(messagesPerSecond),
      serverCores: round2(serverCores),
      ...(options.postmaster ? { postgresCores: round2(postgresCores) } : {}),
      clientCores: round2((client.user + client.system) / 1e6 / elapsed),
      open,
      after: memoryOf(pid),
    };
  } finally {
    closing = true;
    watchConnections.destroy();
    load.destroy();
  }
}
