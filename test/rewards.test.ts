import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import type { RewardGrant } from "../gen/liveops/v1/reward_service_pb.js";
import { codeOf } from "./support/clients.js";
import { competitionServer, createCompetition, leaderboard } from "./support/competition.js";

const HOUR = 3_600_000;
const setup = competitionServer();

const gold = [{ id: "gold", name: "Gold", quantity: 1n }];
const silver = [{ id: "silver", name: "Silver", quantity: 2n }];
const bronze = [{ id: "bronze", name: "Bronze", quantity: 3n }];
const tiers = [
  { rankFrom: 1, rankTo: 1, rewards: gold },
  { rankFrom: 2, rankTo: 3, rewards: silver },
  { rankFrom: 4, rankTo: 10, rewards: bronze },
];

async function grantsOf(playerId: string): Promise<RewardGrant[]> {
  return (await setup.game.rewards.listRewardGrants({ playerId })).grants;
}

describe("finalizing a run", () => {
  it("grants exactly the prize tiers by final rank when the run ends", async () => {
    const id = await createCompetition(
      setup.operator.admin,
      leaderboard({ prizeTiers: tiers }),
      setup.server.clock.now(),
      HOUR,
    );
    // Twelve players, p0 best; p11 and p10 outside the tiers.
    for (let i = 0; i < 12; i++) {
      await setup.game.boards.submitScore({ eventId: id, playerId: `fin-p${i}`, score: BigInt(1000 - i) });
    }
    expect(await grantsOf("fin-p0")).toEqual([]);
    setup.server.clock.advance(HOUR);
    await setup.server.app.scheduler.idle();
    const expected = (i: number) => (i === 0 ? gold : i < 3 ? silver : i < 10 ? bronze : undefined);
    for (let i = 0; i < 12; i++) {
      const grants = await grantsOf(`fin-p${i}`);
      const rewards = expected(i);
      if (!rewards) {
        expect(grants).toEqual([]);
        continue;
      }
      expect(grants).toHaveLength(1);
      expect(grants[0]).toMatchObject({ eventId: id, runNumber: 1n, rank: BigInt(i + 1) });
      expect(grants[0]?.rewards.map((r) => [r.id, r.quantity])).toEqual(rewards.map((r) => [r.id, r.quantity]));
    }
    const final = await setup.game.boards.listScores({ eventId: id });
    expect(final.final).toBe(true);
    expect(final.scores.map((s) => s.playerId)).toEqual(Array.from({ length: 12 }, (_, i) => `fin-p${i}`));
    const { entry } = await setup.game.boards.getPlayerScore({ eventId: id, playerId: "fin-p4" });
    expect(entry?.rank).toBe(5n);
  });

  it("finalizes a run ended early with EndEvent", async () => {
    const id = await createCompetition(
      setup.operator.admin,
      leaderboard({ prizeTiers: tiers }),
      setup.server.clock.now(),
      HOUR,
    );
    await setup.game.boards.submitScore({ eventId: id, playerId: "early-a", score: 5n });
    await setup.game.boards.submitScore({ eventId: id, playerId: "early-b", score: 7n });
    await setup.operator.admin.endEvent({ id });
    expect((await grantsOf("early-b"))[0]?.rewards[0]?.id).toBe("gold");
    expect((await grantsOf("early-a"))[0]?.rewards[0]?.id).toBe("silver");
    expect(await codeOf(setup.game.boards.submitScore({ eventId: id, playerId: "early-a", score: 9n }))).toBe(
      Code.FailedPrecondition,
    );
  });

  it("keeps a board per run of a recurring event, and past runs queryable", async () => {
    const start = setup.server.clock.now();
    const { event } = await setup.operator.admin.createEvent({
      event: {
        title: "Daily cup",
        startTime: timestampFromMs(start),
        recurrence: { rule: "FREQ=DAILY;COUNT=3", runDuration: durationFromMs(HOUR) },
        leaderboard: leaderboard({ prizeTiers: [{ rankFrom: 1, rankTo: 1, rewards: gold }] }),
      },
    });
    const id = event?.id ?? "";
    await setup.game.boards.submitScore({ eventId: id, playerId: "daily-a", score: 10n });
    setup.server.clock.advance(24 * HOUR);
    await setup.server.app.scheduler.idle();
    await setup.game.boards.submitScore({ eventId: id, playerId: "daily-b", score: 20n });
    expect((await setup.game.boards.listScores({ eventId: id })).scores.map((s) => s.playerId)).toEqual(["daily-b"]);
    const first = await setup.game.boards.listScores({ eventId: id, runNumber: 1n });
    expect(first).toMatchObject({ runNumber: 1n, final: true });
    expect(first.scores.map((s) => s.playerId)).toEqual(["daily-a"]);
    setup.server.clock.advance(HOUR);
    await setup.server.app.scheduler.idle();
    const grants = [...(await grantsOf("daily-a")), ...(await grantsOf("daily-b"))];
    expect(grants.map((g) => [g.playerId, g.runNumber])).toEqual([
      ["daily-a", 1n],
      ["daily-b", 2n],
    ]);
  });
});

describe("claiming a reward", () => {
  it("marks it claimed once: concurrent claims all get the same answer", async () => {
    const id = await createCompetition(
      setup.operator.admin,
      leaderboard({ prizeTiers: tiers }),
      setup.server.clock.now(),
      HOUR,
    );
    await setup.game.boards.submitScore({ eventId: id, playerId: "claimer", score: 1n });
    setup.server.clock.advance(HOUR);
    await setup.server.app.scheduler.idle();
    const [grant] = await grantsOf("claimer");
    expect(grant?.claimTime).toBeUndefined();
    setup.server.clock.advance(1000);
    await setup.server.app.scheduler.idle();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => setup.game.rewards.claimReward({ grantId: grant?.id ?? "" })),
    );
    const claimTimes = new Set(answers.map((a) => a.grant?.claimTime?.seconds));
    expect(claimTimes.size).toBe(1);
    expect(answers.every((a) => a.grant?.id === grant?.id && a.grant?.rewards[0]?.id === "gold")).toBe(true);
    setup.server.clock.advance(60_000);
    await setup.server.app.scheduler.idle();
    const later = await setup.game.rewards.claimReward({ grantId: grant?.id ?? "" });
    expect(later.grant?.claimTime).toEqual(answers[0]?.grant?.claimTime);
    expect(await grantsOf("claimer")).toHaveLength(1);
  });

  it("says NOT_FOUND for an unknown grant and INVALID_ARGUMENT for a malformed id", async () => {
    expect(await codeOf(setup.game.rewards.claimReward({ grantId: "00000000-0000-4000-8000-000000000000" }))).toBe(
      Code.NotFound,
    );
    expect(await codeOf(setup.game.rewards.claimReward({ grantId: "nope" }))).toBe(Code.InvalidArgument);
  });
});
