import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { LeaderboardOrder, ScoreOperator } from "../gen/liveops/v1/event_pb.js";
import { codeOf, connectClients } from "./support/clients.js";
import { competitionClients, competitionServer, createCompetition, leaderboard } from "./support/competition.js";

const HOUR = 3_600_000;
const setup = competitionServer();

/** A competition live now. */
const liveCompetition = (board: ReturnType<typeof leaderboard>) =>
  createCompetition(setup.operator.admin, board, setup.server.clock.now());
const submit = (eventId: string, playerId: string, score: number, subscore = 0) =>
  setup.game.boards.submitScore({ eventId, playerId, score: BigInt(score), subscore: BigInt(subscore) });
async function failure(call: Promise<unknown>) {
  const err = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  if (!err) throw new Error("the call succeeded");
  return { code: err.code, reason: err.findDetails(ErrorInfoSchema)[0]?.reason };
}
async function board(eventId: string) {
  const { scores } = await setup.game.boards.listScores({ eventId, pageSize: 500 });
  return scores.map((s) => [s.playerId, Number(s.rank), Number(s.score), Number(s.subscore)]);
}

describe("score operators", () => {
  it.each([
    ["BEST, higher first", ScoreOperator.BEST, LeaderboardOrder.HIGHER_FIRST, [10, 5, 20, 15], 20],
    ["BEST, lower first", ScoreOperator.BEST, LeaderboardOrder.LOWER_FIRST, [30, 20, 25], 20],
    ["SET", ScoreOperator.SET, LeaderboardOrder.HIGHER_FIRST, [10, 5], 5],
    ["INCR", ScoreOperator.INCR, LeaderboardOrder.HIGHER_FIRST, [10, 5, 1], 16],
    ["DECR", ScoreOperator.DECR, LeaderboardOrder.HIGHER_FIRST, [10, 5], -15],
  ])("%s", async (_name, scoreOperator, order, submissions, expected) => {
    const id = await liveCompetition(leaderboard({ scoreOperator, order }));
    let last = 0;
    for (const score of submissions) {
      const { entry } = await submit(id, "p1", score);
      last = Number(entry?.score);
      expect(entry?.submissions).toBeGreaterThan(0);
    }
    expect(last).toBe(expected);
    const { entry } = await setup.game.boards.getPlayerScore({ eventId: id, playerId: "p1" });
    expect(Number(entry?.score)).toBe(expected);
    expect(entry?.submissions).toBe(submissions.length);
  });
});

describe("ranks", () => {
  it("order by (score, subscore), ties to whoever reached the pair first", async () => {
    const id = await liveCompetition(leaderboard());
    await submit(id, "alice", 100, 5);
    await submit(id, "bob", 100, 7);
    await submit(id, "carol", 100, 5);
    await submit(id, "dave", 90, 99);
    await submit(id, "erin", 100, 5); // later again: behind alice and carol
    expect(await board(id)).toEqual([
      ["bob", 1, 100, 7],
      ["alice", 2, 100, 5],
      ["carol", 3, 100, 5],
      ["erin", 4, 100, 5],
      ["dave", 5, 90, 99],
    ]);
    // Carol improves past Bob; Alice submits a worse score (BEST keeps hers and her place).
    expect(Number((await submit(id, "carol", 101, 0)).entry?.rank)).toBe(1);
    expect(Number((await submit(id, "alice", 50, 0)).entry?.rank)).toBe(3);
    const around = await setup.game.boards.listScoresAroundPlayer({ eventId: id, playerId: "alice", count: 1 });
    expect(around.scores.map((s) => s.playerId)).toEqual(["bob", "alice", "erin"]);
    const page = await setup.game.boards.listScores({ eventId: id, pageSize: 2 });
    const next = await setup.game.boards.listScores({ eventId: id, pageSize: 2, pageToken: page.nextPageToken });
    expect([...page.scores, ...next.scores].map((s) => Number(s.rank))).toEqual([1, 2, 3, 4]);
    expect(await codeOf(setup.game.boards.getPlayerScore({ eventId: id, playerId: "nobody" }))).toBe(Code.NotFound);
  });
});

describe("joining and limits", () => {
  it("lets exactly max_participants of 200 concurrent joins in; joining twice is harmless", async () => {
    const id = await liveCompetition(leaderboard({ joinRequired: true, maxParticipants: 50 }));
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, (_, i) => codeOf(setup.game.boards.joinEvent({ eventId: id, playerId: `p${i}` }))),
    );
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(50);
    expect(outcomes.filter((o) => o === Code.ResourceExhausted)).toHaveLength(150);
    const joined = outcomes.indexOf("ok");
    const again = await setup.game.boards.joinEvent({ eventId: id, playerId: `p${joined}` });
    expect(again).toMatchObject({ alreadyJoined: true, participants: 50n });
    expect(await failure(setup.game.boards.joinEvent({ eventId: id, playerId: "late" }))).toMatchObject({
      code: Code.ResourceExhausted,
      reason: "EVENT_FULL",
    });
    const stranger = outcomes.findIndex((o) => o !== "ok");
    expect(await failure(submit(id, `p${stranger}`, 1))).toMatchObject({
      code: Code.FailedPrecondition,
      reason: "NOT_JOINED",
    });
    expect(await codeOf(submit(id, `p${joined}`, 1))).toBe("ok");
  });

  it("refuses submissions over max_submissions with RESOURCE_EXHAUSTED", async () => {
    const id = await liveCompetition(leaderboard({ maxSubmissions: 3 }));
    for (let i = 0; i < 3; i++) await submit(id, "p", i);
    expect(await failure(submit(id, "p", 9))).toMatchObject({
      code: Code.ResourceExhausted,
      reason: "SUBMISSION_LIMIT",
    });
    expect(await codeOf(submit(id, "other", 9))).toBe("ok");
  });

  it("refuses scores before and after the run with FAILED_PRECONDITION", async () => {
    const id = await createCompetition(setup.operator.admin, leaderboard(), setup.server.clock.now() + HOUR, HOUR);
    expect(await failure(submit(id, "p", 1))).toMatchObject({ code: Code.FailedPrecondition, reason: "RUN_NOT_LIVE" });
    setup.server.clock.advance(HOUR);
    expect(await codeOf(submit(id, "p", 1))).toBe("ok");
    setup.server.clock.advance(HOUR);
    expect(await failure(submit(id, "p", 2))).toMatchObject({ code: Code.FailedPrecondition, reason: "RUN_NOT_LIVE" });
  });

  it("refuses bad input with INVALID_ARGUMENT and an event without a leaderboard with FAILED_PRECONDITION", async () => {
    const id = await liveCompetition(leaderboard());
    expect(await codeOf(submit(id, "", 1))).toBe(Code.InvalidArgument);
    expect(await codeOf(submit(id, "has space", 1))).toBe(Code.InvalidArgument);
    expect(await codeOf(submit(id, "p", 2 ** 53))).toBe(Code.InvalidArgument);
    const plain = connectClients(setup.server.baseUrl, setup.server.keys.operator);
    const { event } = await plain.admin.createEvent({
      event: {
        title: "No board",
        startTime: timestampFromMs(setup.server.clock.now()),
        endTime: timestampFromMs(setup.server.clock.now() + HOUR),
      },
    });
    expect(await failure(submit(event?.id ?? "", "p", 1))).toMatchObject({ reason: "NO_LEADERBOARD" });
  });

  it("is for game servers: a viewer may read boards but not submit", async () => {
    const id = await liveCompetition(leaderboard());
    const viewer = competitionClients(setup.server.baseUrl, setup.server.keys.viewer);
    expect(await codeOf(viewer.boards.submitScore({ eventId: id, playerId: "p", score: 1n }))).toBe(
      Code.PermissionDenied,
    );
    expect(await codeOf(viewer.boards.listScores({ eventId: id }))).toBe("ok");
  });

  it("validates prize tiers: ranks from 1, not overlapping, with rewards", async () => {
    const reward = [{ id: "gems", name: "Gems", quantity: 1n }];
    const call = setup.operator.admin.createEvent({
      event: {
        title: "Bad tiers",
        startTime: timestampFromMs(setup.server.clock.now()),
        endTime: timestampFromMs(setup.server.clock.now() + HOUR),
        leaderboard: leaderboard({
          prizeTiers: [
            { rankFrom: 1, rankTo: 3, rewards: reward },
            { rankFrom: 3, rankTo: 5, rewards: reward },
            { rankFrom: 0, rankTo: 1, rewards: [] },
          ],
        }),
      },
    });
    const err = await call.then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(err?.rawMessage).toContain("event.leaderboard.prize_tiers[1]: overlaps prize_tiers[0]");
    expect(err?.rawMessage).toContain("event.leaderboard.prize_tiers[2].rank_from");
    expect(err?.rawMessage).toContain("event.leaderboard.prize_tiers[2].rewards");
  });
});

describe("engagement counters", () => {
  it("add atomically under concurrent increments and show on the event", async () => {
    const id = await liveCompetition(leaderboard());
    await Promise.all(
      Array.from({ length: 100 }, () =>
        setup.game.counters.incrementCounter({ eventId: id, name: "likes", delta: 1n }),
      ),
    );
    const { value } = await setup.game.counters.incrementCounter({ eventId: id, name: "viewers", delta: 7n });
    expect(value).toBe(7n);
    const { event } = await connectClients(setup.server.baseUrl, setup.server.keys.viewer).events.getEvent({ id });
    expect(event?.counters).toEqual({ likes: 100n, viewers: 7n });
  });

  it("validates names and deltas, and bounds the counters of an event", async () => {
    const id = await liveCompetition(leaderboard());
    expect(await codeOf(setup.game.counters.incrementCounter({ eventId: id, name: "Likes!", delta: 1n }))).toBe(
      Code.InvalidArgument,
    );
    expect(await codeOf(setup.game.counters.incrementCounter({ eventId: id, name: "likes", delta: 0n }))).toBe(
      Code.InvalidArgument,
    );
    for (let i = 0; i < 32; i++) await setup.game.counters.incrementCounter({ eventId: id, name: `c${i}`, delta: 1n });
    expect(
      await failure(setup.game.counters.incrementCounter({ eventId: id, name: "one_more", delta: 1n })),
    ).toMatchObject({
      code: Code.ResourceExhausted,
      reason: "TOO_MANY_COUNTERS",
    });
    expect(await codeOf(setup.game.counters.incrementCounter({ eventId: id, name: "c0", delta: -1n }))).toBe("ok");
  });
});
