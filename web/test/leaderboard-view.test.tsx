// @vitest-environment happy-dom
import { create } from "@bufbuild/protobuf";
import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { LeaderboardOrder, LeaderboardSchema, PrizeTierSchema, ScoreOperator } from "../../gen/liveops/v1/event_pb.js";
import { ScoreEntrySchema } from "../../gen/liveops/v1/leaderboard_service_pb.js";
import { boardRules, prizeBands, ScoreTable } from "../src/leaderboard-view.js";

afterEach(cleanup);

const tiers = [
  create(PrizeTierSchema, { rankFrom: 1, rankTo: 1, rewards: [{ id: "gems", name: "Gems", quantity: 1000n }] }),
  create(PrizeTierSchema, { rankFrom: 2, rankTo: 3, rewards: [{ id: "gems", name: "Gems", quantity: 500n }] }),
];
const entry = (rank: number, score: bigint, subscore = 0n) =>
  create(ScoreEntrySchema, { playerId: `p-${rank}`, rank: BigInt(rank), score, subscore, submissions: 1 });
const board = [entry(1, 1_250_000n), entry(2, 900n), entry(3, 800n), entry(4, 10n)];

const headers = () => screen.getAllByRole("columnheader").map((th) => th.textContent);

describe("the score table", () => {
  it("groups the rows under their prize tier, and the rows past every tier under “No prize”", () => {
    render(<ScoreTable entries={board} tiers={tiers} caption="Run 1" />);
    const groups = screen.getAllByRole("rowgroup").slice(1);
    expect(
      groups.map((g) =>
        within(g)
          .getAllByRole("row")
          .map((r) => r.getAttribute("data-player-id")),
      ),
    ).toEqual([
      [null, "p-1"],
      [null, "p-2", "p-3"],
      [null, "p-4"],
    ]);
    expect(groups.map((g) => g.querySelector(".band-heading")?.textContent)).toEqual([
      "Rank 1: 1,000 Gems",
      "Ranks 2–3: 500 Gems",
      "No prize",
    ]);
  });

  it("shows no band headings when the board has no prize tiers", () => {
    render(<ScoreTable entries={board} tiers={[]} caption="Run 1" />);
    expect(document.querySelectorAll(".band-heading")).toHaveLength(0);
  });

  it("formats scores with grouped digits", () => {
    render(<ScoreTable entries={board} tiers={tiers} caption="Run 1" />);
    expect(screen.getByRole("row", { name: /p-1/ }).querySelectorAll("td")[2]?.textContent).toBe("1,250,000");
  });

  it("shows the subscore column only when some entry has a subscore", () => {
    render(<ScoreTable entries={board} tiers={tiers} caption="Run 1" />);
    expect(headers()).not.toContain("Subscore");
    cleanup();
    render(<ScoreTable entries={[...board.slice(0, 3), entry(4, 10n, -3n)]} tiers={tiers} caption="Run 1" />);
    expect(headers()).toContain("Subscore");
  });

  it("marks the row of the player searched for", () => {
    render(<ScoreTable entries={board} tiers={tiers} caption="Around p-3" highlight="p-3" />);
    expect(document.querySelector("tr[aria-current]")?.getAttribute("data-player-id")).toBe("p-3");
  });

  it("says so when the board is empty", () => {
    render(<ScoreTable entries={[]} tiers={tiers} caption="Run 1" />);
    screen.getByText("No scores yet.");
  });
});

describe("prize bands", () => {
  it("start a new band wherever the tier changes, even when a page starts inside a tier", () => {
    const bands = prizeBands([entry(3, 5n), entry(4, 4n), entry(5, 3n)], tiers);
    expect(bands.map((b) => [b.tier, b.entries.map((e) => e.playerId)])).toEqual([
      [1, ["p-3"]],
      [-1, ["p-4", "p-5"]],
    ]);
  });
});

describe("a board's rules", () => {
  it("are told in one sentence", () => {
    const rules = boardRules(
      create(LeaderboardSchema, {
        order: LeaderboardOrder.LOWER_FIRST,
        scoreOperator: ScoreOperator.BEST,
        joinRequired: true,
        maxParticipants: 10_000,
      }),
    );
    expect(rules).toBe(
      "Lower scores rank first; a player's best score counts; players join before they submit; at most 10,000 players per run.",
    );
  });
});
