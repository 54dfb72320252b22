import { fromBinary } from "@bufbuild/protobuf";
import { type SQL, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventChangeType, WatchEventsResponseSchema } from "../gen/liveops/v1/event_service_pb.js";
import { flag } from "../src/db/storage.js";
import { createCompetition, leaderboard } from "./support/competition.js";
import { burst, clientFleet, outcomeOf, type ServiceClients } from "./support/fleet.js";
import { startTestServer, type TestServer } from "./support/server.js";
import { eventually } from "./support/watch.js";

// The end of a run while everything that can touch it is in flight at once, from several connections of a real
// server (HTTP/2 and HTTP/1.1): the outcome is checked exactly, in the answers and in what the database holds.

const HOUR = 3_600_000;

let server: TestServer;
let operators: ServiceClients[];
let games: ServiceClients[];
beforeAll(async () => {
  server = await startTestServer();
  operators = clientFleet(server.baseUrl, server.keys.operator, 12);
  games = clientFleet(server.baseUrl, server.keys.game_server, 12);
});
afterAll(() => server.close());

/** The rows of a query on what the server stored (its committed data). */
function rows<T>(query: SQL): Promise<T[]> {
  return server.app.storage.reads.all<T>(query);
}

const PLAYERS = 40;
const PRIZED = 20;
const prize = (rank: number) => (rank === 1 ? "gold" : rank <= 5 ? "silver" : "bronze");

/**
 * A competition live from `start` for an hour, with a score for each of PLAYERS players, then 12 submitters that
 * keep a score in flight until the run is over (each score beats all the earlier ones): their acknowledged scores,
 * and how each submitter stopped.
 */
async function competitionUnderFire(start: number) {
  const tier = (rankFrom: number, rankTo: number) => ({
    rankFrom,
    rankTo,
    rewards: [{ id: prize(rankFrom), name: prize(rankFrom), quantity: 1n }],
  });
  const board = leaderboard({ prizeTiers: [tier(1, 1), tier(2, 5), tier(6, PRIZED)] });
  const id = await createCompetition((operators[0] as ServiceClients).admin, board, start, HOUR);
  await burst(games, PLAYERS, (c, p) => c.boards.submitScore({ eventId: id, playerId: `fin-${p}`, score: BigInt(p) }));
  let next = PLAYERS;
  const acked: { playerId: string; score: number }[] = [];
  const submitter = async (c: ServiceClients, k: number) => {
    for (let round = 0; ; round++) {
      const playerId = `fin-${(k * 7 + round) % PLAYERS}`;
      const score = next++;
      const outcome = await outcomeOf(c.boards.submitScore({ eventId: id, playerId, score: BigInt(score) }));
      if (outcome !== "ok") return outcome;
      acked.push({ playerId, score });
    }
  };
  return { id, acked, stopped: Promise.all(games.map(submitter)) };
}

/**
 * Checks that a competition's run was finalized once: one ENDED change, final ranks that are the ranking of the
 * stored scores (which hold every acknowledged score and only those), one grant per prized rank.
 */
async function expectFinalizedOnce({ id, acked }: Awaited<ReturnType<typeof competitionUnderFire>>, early: boolean) {
  const [run] = await rows<Record<string, unknown>>(sql`
    SELECT finalized, end_announced, ended_early FROM event_runs WHERE event_id = ${id}`);
  expect([flag(run?.finalized), flag(run?.end_announced), flag(run?.ended_early)]).toEqual([true, true, early]);
  const changes = await rows<{ message: Uint8Array }>(sql`SELECT message FROM event_changes`);
  const endings = changes
    .map((c) => fromBinary(WatchEventsResponseSchema, c.message))
    .filter((c) => c.type === EventChangeType.ENDED && c.event?.id === id);
  expect(endings).toHaveLength(1);
  const board = await rows<{
    playerId: string;
    score: number;
    subscore: number;
    seq: number;
    n: number;
    rank: number;
  }>(sql`
    SELECT player_id AS "playerId", score, subscore, reached_seq AS seq, submissions AS n, final_rank AS rank
    FROM scores WHERE event_id = ${id}`);
  expect(board).toHaveLength(PLAYERS);
  for (const entry of board) {
    const mine = acked.filter((a) => a.playerId === entry.playerId).map((a) => a.score);
    const first = Number(entry.playerId.slice("fin-".length));
    expect([entry.playerId, Number(entry.score), Number(entry.n)]).toEqual([
      entry.playerId,
      Math.max(first, ...mine),
      1 + mine.length,
    ]);
  }
  const ranked = [...board].sort(
    (a, b) =>
      Number(b.score) - Number(a.score) || Number(b.subscore) - Number(a.subscore) || Number(a.seq) - Number(b.seq),
  );
  expect(
    ranked.map((e) => Number(e.rank)),
    "final ranks of the players in the order of their stored scores",
  ).toEqual(Array.from({ length: PLAYERS }, (_, i) => i + 1));
  const grants = await rows<{ playerId: string; rank: number; rewards: string }>(sql`
    SELECT player_id AS "playerId", rank, rewards FROM reward_grants WHERE event_id = ${id} ORDER BY rank, player_id`);
  expect(grants.map((g) => [g.playerId, Number(g.rank), (JSON.parse(g.rewards) as { id: string }[])[0]?.id])).toEqual(
    ranked.slice(0, PRIZED).map((e, i) => [e.playerId, i + 1, prize(i + 1)]),
  );
  const final = await (games[0] as ServiceClients).boards.listScores({ eventId: id, pageSize: 100 });
  expect(final.final).toBe(true);
  expect(final.scores.map((s) => s.playerId)).toEqual(ranked.map((e) => e.playerId));
}

describe("the end of a run under concurrent calls", () => {
  it("a run is finalized and its prizes granted exactly once, even when its end comes while scores, EndEvent and the scheduler race", async () => {
    const start = server.clock.now();
    // Two competitions with scores in flight: one ended by concurrent EndEvent calls, one by the scheduler's boundary
    // while EndEvent calls arrive.
    const early = await competitionUnderFire(start);
    const atBoundary = await competitionUnderFire(start);
    await eventually(() => early.acked.length >= 60 && atBoundary.acked.length >= 60, "scores to flow");
    const endEvent = (id: string) => (c: ServiceClients) => outcomeOf(c.admin.endEvent({ id }));
    const endedEarly = await Promise.all(operators.slice(0, 6).map(endEvent(early.id)));
    const endedAtBoundary = operators.slice(6, 9).map(endEvent(atBoundary.id));
    await new Promise((resolve) => setImmediate(resolve));
    // The scheduler's boundary fires in this call, while scores and EndEvent calls are in flight.
    server.clock.advance(start + HOUR - server.clock.now() + 1);
    endedAtBoundary.push(...operators.slice(9, 12).map(endEvent(atBoundary.id)));
    const ends = await Promise.all(endedAtBoundary);
    const stops = await Promise.all([early.stopped, atBoundary.stopped]);
    await server.app.scheduler.idle();

    expect(new Set(stops.flat())).toEqual(new Set(["FailedPrecondition/RUN_NOT_LIVE"]));
    expect(endedEarly.filter((e) => e === "ok")).toHaveLength(1);
    expect(endedEarly.filter((e) => e !== "ok").every((e) => e === "FailedPrecondition/EVENT_ENDED")).toBe(true);
    await expectFinalizedOnce(early, true);
    // An EndEvent handled before the boundary ends the run early; every other finds it ended.
    expect(ends.filter((e) => e === "ok").length).toBeLessThanOrEqual(1);
    expect(ends.filter((e) => e !== "ok").every((e) => e === "FailedPrecondition/EVENT_ENDED")).toBe(true);
    await expectFinalizedOnce(atBoundary, ends.includes("ok"));
  });
});
