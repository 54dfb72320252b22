import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LeaderboardOrder } from "../gen/liveops/v1/event_pb.js";
import { type Board, createBoard, type ScoreRecord } from "../src/leaderboards/board.js";

/** The model: every scored entry in an array, sorted from scratch on every question. */
interface Model {
  entries: Map<string, ScoreRecord & { score: number; subscore: number; seq: number }>;
  order: LeaderboardOrder;
  seq: number;
}

function sorted(model: Model) {
  const sign = model.order === LeaderboardOrder.LOWER_FIRST ? -1 : 1;
  return [...model.entries.values()].sort(
    (a, b) =>
      sign * (b.score - a.score) ||
      sign * (b.subscore - a.subscore) ||
      a.seq - b.seq ||
      (a.playerId < b.playerId ? -1 : 1),
  );
}

class Put implements fc.Command<Model, Board> {
  constructor(
    readonly playerId: string,
    readonly score: number,
    readonly subscore: number,
  ) {}
  check = () => true;
  run(model: Model, board: Board) {
    const record = {
      playerId: this.playerId,
      score: this.score,
      subscore: this.subscore,
      seq: ++model.seq,
      submissions: 1,
      metadata: null,
      updateTime: 0,
    };
    model.entries.set(this.playerId, record);
    board.apply([record]);
    const expected = sorted(model);
    // Every rank, the top and a page in the middle agree with the model.
    for (const [i, entry] of expected.entries()) expect(board.entryOf(entry.playerId)?.rank).toBe(i + 1);
    expect(board.page(0, 3).map((e) => e.record.playerId)).toEqual(expected.slice(0, 3).map((e) => e.playerId));
    expect(board.page(2, 2).map((e) => e.rank)).toEqual(expected.slice(2, 4).map((_, i) => i + 3));
    expect(board.rankedCount).toBe(expected.length);
  }
  toString = () => `put(${this.playerId}, ${this.score}, ${this.subscore})`;
}

class Join implements fc.Command<Model, Board> {
  constructor(readonly playerId: string) {}
  check = (model: Readonly<Model>) => !model.entries.has(this.playerId);
  run(model: Model, board: Board) {
    const before = board.participants;
    const had = board.has(this.playerId);
    board.apply([
      {
        playerId: this.playerId,
        score: null,
        subscore: null,
        seq: null,
        submissions: 0,
        metadata: null,
        updateTime: null,
      },
    ]);
    expect(board.participants).toBe(had ? before : before + 1);
    expect(board.entryOf(this.playerId)).toBeUndefined();
    expect(board.rankedCount).toBe(model.entries.size);
  }
  toString = () => `join(${this.playerId})`;
}

describe("the in-memory board", () => {
  it.each([LeaderboardOrder.HIGHER_FIRST, LeaderboardOrder.LOWER_FIRST])(
    "ranks like a sorted array under random operations (order %s)",
    (order) => {
      const player = fc.constantFrom("a", "b", "c", "d", "e", "f", "g");
      const commands = [
        fc
          .tuple(player, fc.integer({ min: -3, max: 3 }), fc.integer({ min: 0, max: 2 }))
          .map(([p, s, sub]) => new Put(p, s, sub)),
        player.map((p) => new Join(p)),
      ];
      fc.assert(
        fc.property(fc.commands(commands, { maxCommands: 60 }), (cmds) => {
          fc.modelRun(() => ({ model: { entries: new Map(), order, seq: 0 }, real: createBoard(order) }), cmds);
        }),
        { numRuns: 200 },
      );
    },
  );
});
