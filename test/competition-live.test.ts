import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import fc from "fast-check";
import { describe, expect, it, onTestFinished } from "vitest";
import { ScoreOperator } from "../gen/liveops/v1/event_pb.js";
import { LeaderboardService, type WatchLeaderboardResponse } from "../gen/liveops/v1/leaderboard_service_pb.js";
import { bearer } from "./support/clients.js";
import { competitionClients, competitionServer, createCompetition, leaderboard } from "./support/competition.js";
import { startTestServer, testActor, testBackend } from "./support/server.js";
import { eventually } from "./support/watch.js";

const INTERVAL_MS = 100;
const setup = competitionServer({ LEADERBOARD_WATCH_INTERVAL_MS: String(INTERVAL_MS) });

const liveCompetition = (board = leaderboard()) =>
  createCompetition(setup.operator.admin, board, setup.server.clock.now());
const submit = (eventId: string, playerId: string, score: number) =>
  setup.game.boards.submitScore({ eventId, playerId, score: BigInt(score) });

/** Watches a board in the background over `transport`. */
function watchBoard(transport: ReturnType<typeof createGrpcTransport>, eventId: string, playerId = "") {
  const messages: WatchLeaderboardResponse[] = [];
  const abort = new AbortController();
  const done = (async () => {
    for await (const m of createClient(LeaderboardService, transport).watchLeaderboard(
      { eventId, topN: 3, playerId },
      { signal: abort.signal },
    )) {
      messages.push(m);
    }
  })().catch(() => undefined);
  return {
    messages,
    stop: async () => {
      abort.abort();
      await done;
    },
  };
}
const topOf = (m: WatchLeaderboardResponse | undefined) => m?.top.map((e) => `${e.playerId}:${e.rank}`);

/**
 * Moves the server's clock one interval every interval of real time while a test runs: WatchLeaderboard spaces its
 * messages on the injected clock.
 */
function clockFollowsRealTime() {
  const ticker = setInterval(() => setup.server.clock.advance(INTERVAL_MS), INTERVAL_MS);
  onTestFinished(() => clearInterval(ticker));
}

describe("WatchLeaderboard", () => {
  const transports = {
    gRPC: () =>
      createGrpcTransport({ baseUrl: setup.server.baseUrl, interceptors: [bearer(setup.server.keys.viewer)] }),
    "gRPC-Web": () =>
      createGrpcWebTransport({
        baseUrl: setup.server.baseUrl,
        httpVersion: "1.1",
        interceptors: [bearer(setup.server.keys.viewer)],
      }),
  };

  it.each(Object.keys(transports))("pushes the top and a player's rank as they change, over %s", async (name) => {
    clockFollowsRealTime();
    const id = await liveCompetition();
    const watch = watchBoard(transports[name as keyof typeof transports](), id, "carol");
    await eventually(() => watch.messages.length === 1, "the first message");
    expect(watch.messages[0]).toMatchObject({ runNumber: 1n, top: [], participants: 0n });
    await submit(id, "alice", 10);
    await eventually(() => topOf(watch.messages.at(-1))?.join() === "alice:1", "alice on top");
    await submit(id, "carol", 5);
    await eventually(() => watch.messages.at(-1)?.player?.rank === 2n, "carol second");
    await submit(id, "carol", 50);
    await eventually(() => watch.messages.at(-1)?.player?.rank === 1n, "carol first");
    expect(topOf(watch.messages.at(-1))).toEqual(["carol:1", "alice:2"]);
    await watch.stop();
  });

  it("coalesces a burst: 300 scores in flight give a handful of messages", async () => {
    clockFollowsRealTime();
    const id = await liveCompetition(leaderboard({ scoreOperator: ScoreOperator.INCR }));
    const watch = watchBoard(transports.gRPC(), id);
    await eventually(() => watch.messages.length === 1, "the first message");
    const started = Date.now();
    await Promise.all(Array.from({ length: 300 }, (_, i) => submit(id, `p${i % 20}`, i)));
    const burstMs = Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 3 * INTERVAL_MS));
    const during = watch.messages.length - 1;
    expect(during).toBeGreaterThan(0);
    // At most one message per interval, plus the one after the burst.
    expect(during).toBeLessThanOrEqual(Math.ceil(burstMs / INTERVAL_MS) + 2);
    // Far fewer messages than scores, whatever the burst's length (on a loaded machine it can take seconds: the bound
    // above is the one that holds the interval).
    expect(during).toBeLessThan(300 / 3);
    const last = watch.messages.at(-1);
    const { scores } = await setup.game.boards.listScores({ eventId: id, pageSize: 3 });
    expect(topOf(last)).toEqual(scores.map((s) => `${s.playerId}:${s.rank}`));
    await watch.stop();
  });
});

describe("WatchLeaderboard and keys", () => {
  it("ends the stream of a key revoked while it watches", async () => {
    const id = await liveCompetition();
    const made = await setup.server.app.keys.createKey(
      { name: "revoked soon", role: "viewer" },
      setup.server.clock.now(),
      testActor,
    );
    const transport = createGrpcTransport({ baseUrl: setup.server.baseUrl, interceptors: [bearer(made.key)] });
    let error: ConnectError | undefined;
    let messages = 0;
    const done = (async () => {
      for await (const _ of createClient(LeaderboardService, transport).watchLeaderboard({ eventId: id })) messages++;
    })().catch((err: unknown) => {
      error = ConnectError.from(err);
    });
    await eventually(() => messages === 1, "the first message");
    await setup.server.app.keys.revokeKey(made.row.id, setup.server.clock.now(), testActor);
    await done;
    expect(error?.code).toBe(Code.Unauthenticated);
  });
});

// Group commit is SQLite's: on PostgreSQL each unit is a transaction of its own (the server groups WAL flushes).
describe.skipIf(testBackend === "postgres")("group commit", () => {
  it("commits concurrent submissions together: fewer transactions than submissions, every one acknowledged", async () => {
    const id = await liveCompetition(leaderboard({ scoreOperator: ScoreOperator.INCR }));
    const batches = async () => {
      const values = (await setup.server.app.metrics.writeBatchSize.get()).values;
      const of = (suffix: string) =>
        values.find((v) => v.metricName === `liveops_write_batch_size_${suffix}`)?.value ?? 0;
      return { count: of("count"), sum: of("sum") };
    };
    const before = await batches();
    const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => submit(id, `g${i % 10}`, 1)));
    const after = await batches();
    expect(after.sum - before.sum).toBe(200);
    expect(after.count - before.count).toBeLessThan(200);
    expect(acks.every((a) => a.entry !== undefined)).toBe(true);
    const { scores } = await setup.game.boards.listScores({ eventId: id });
    expect(scores.reduce((total, s) => total + Number(s.score), 0)).toBe(200);
  });
});

describe("ranks against a model", () => {
  it("match a sorted array of best scores after random submissions", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom("a", "b", "c", "d", "e"), fc.integer({ min: 0, max: 5 })), {
          minLength: 1,
          maxLength: 25,
        }),
        async (submissions) => {
          const id = await liveCompetition();
          // Sequential, so that "who reached it first" is the order of the array.
          for (const [player, score] of submissions) await submit(id, player, score);
          const best = new Map<string, { score: number; at: number }>();
          submissions.forEach(([player, score], at) => {
            const current = best.get(player);
            if (!current || score > current.score) best.set(player, { score, at });
          });
          const expected = [...best.entries()]
            .sort((x, y) => y[1].score - x[1].score || x[1].at - y[1].at)
            .map(([player], i) => `${player}:${i + 1}`);
          const { scores } = await setup.game.boards.listScores({ eventId: id });
          expect(scores.map((s) => `${s.playerId}:${s.rank}`)).toEqual(expected);
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe("boards across a restart", () => {
  it("are rebuilt from SQLite: the same ranks, ties included", async () => {
    const dir = mkdtempSync(join(tmpdir(), "liveops-boards-"));
    try {
      const first = await startTestServer({}, { dir });
      const clients = competitionClients(first.baseUrl, first.keys.game_server);
      const id = await createCompetition(
        competitionClients(first.baseUrl, first.keys.operator).admin,
        leaderboard(),
        first.clock.now(),
      );
      for (const [player, score] of [
        ["a", 5],
        ["b", 7],
        ["c", 5],
        ["d", 1],
      ] as const) {
        await clients.boards.submitScore({ eventId: id, playerId: player, score: BigInt(score) });
      }
      const before = (await clients.boards.listScores({ eventId: id })).scores.map((s) => `${s.playerId}:${s.rank}`);
      await first.close();
      const second = await startTestServer({}, { dir, clock: first.clock });
      const after = await competitionClients(second.baseUrl, second.keys.game_server).boards.listScores({
        eventId: id,
      });
      expect(after.scores.map((s) => `${s.playerId}:${s.rank}`)).toEqual(before);
      expect(before).toEqual(["b:1", "a:2", "c:3", "d:4"]);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
