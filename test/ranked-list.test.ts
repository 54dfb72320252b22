import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LeaderboardOrder } from "../gen/liveops/v1/event_pb.js";
import { createBoard, joinedEntry, type ScoreRecord } from "../src/leaderboards/board.js";
import { createRankedList } from "../src/leaderboards/ranked-list.js";

const byValue = (values: Map<number, number>) => (a: number, b: number) =>
  (values.get(a) ?? 0) - (values.get(b) ?? 0) || a - b;

describe("the ranked list", () => {
  it("keeps the positions of a sorted array under random inserts and removals, whatever its chunk size", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 60 }), fc.integer({ min: -20, max: 20 })), {
          maxLength: 300,
        }),
        (chunkSize, operations) => {
          const values = new Map<number, number>();
          const compare = byValue(values);
          const list = createRankedList(compare, chunkSize);
          const model: number[] = [];
          for (const [add, item, value] of operations) {
            if (add && !values.has(item)) {
              values.set(item, value);
              list.insert(item);
              model.push(item);
              model.sort(compare);
            } else if (!add) {
              const had = values.has(item);
              expect(list.remove(item)).toBe(had);
              if (had) model.splice(model.indexOf(item), 1);
              values.delete(item);
            }
            expect(list.size).toBe(model.length);
          }
          expect(list.slice(0, model.length + 1)).toEqual(model);
          for (const [i, item] of model.entries()) {
            expect(list.positionOf(item)).toBe(i);
            expect(list.slice(i, 3)).toEqual(model.slice(i, i + 3));
          }
          expect(list.positionOf(1000)).toBeUndefined();
          expect(list.slice(model.length, 5)).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("filled with sorted items ranks them as inserted one by one", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.uniqueArray(fc.integer(), { maxLength: 200 }), (size, items) => {
        const compare = (a: number, b: number) => a - b;
        const sorted = [...items].sort(compare);
        const filled = createRankedList(compare, size);
        filled.fill(sorted);
        const inserted = createRankedList(compare, size);
        for (const item of items) inserted.insert(item);
        expect(filled.slice(0, items.length)).toEqual(sorted);
        expect(inserted.slice(0, items.length)).toEqual(sorted);
        for (const [i, item] of sorted.entries()) expect(filled.positionOf(item)).toBe(i);
        // Still a working list after the fill.
        for (const item of items.slice(0, 20)) expect(filled.remove(item)).toBe(true);
        expect(filled.size).toBe(Math.max(0, items.length - 20));
      }),
      { numRuns: 200 },
    );
  });
});

/** Random entries: a few joined players, the rest scored, with ties in score and subscore. */
const entries = fc
  .uniqueArray(
    fc.record({
      playerId: fc.stringMatching(/^[a-z0-9]{1,4}$/),
      score: fc.option(fc.integer({ min: -5, max: 5 }), { freq: 5 }),
      subscore: fc.integer({ min: 0, max: 2 }),
      submissions: fc.integer({ min: 0, max: 3 }),
      metadata: fc.option(fc.constant('{"a":1}')),
      updateTime: fc.option(fc.integer({ min: 0, max: 2 ** 45 })),
    }),
    { selector: (e) => e.playerId, maxLength: 150 },
  )
  .map((list) =>
    list.map(
      (e, i): ScoreRecord => ({
        ...e,
        subscore: e.score === null ? null : e.subscore,
        seq: e.score === null ? null : (i * 7919) % 1009,
      }),
    ),
  );

describe("a board built at once", () => {
  it.each([LeaderboardOrder.HIGHER_FIRST, LeaderboardOrder.LOWER_FIRST])(
    "gives the same ranks and entries from records in any order as one built entry by entry (order %s)",
    (order) => {
      fc.assert(
        fc.property(entries, fc.integer({ min: 1, max: 5 }), (records, chunkSize) => {
          const oneByOne = createBoard(order, [], { chunkSize });
          oneByOne.apply(records);
          const shuffled = [...records].reverse();
          const atOnce = createBoard(order, shuffled, { chunkSize });
          const inRankOrder = createBoard(
            order,
            oneByOne.page(0, records.length).map((e) => e.record),
          );
          for (const board of [atOnce, inRankOrder]) {
            expect(board.rankedCount).toBe(oneByOne.rankedCount);
            expect(board.page(0, records.length + 1)).toEqual(oneByOne.page(0, records.length + 1));
          }
          expect(atOnce.participants).toBe(records.length);
          for (const record of records) {
            expect(atOnce.has(record.playerId)).toBe(true);
            const entry = atOnce.entryOf(record.playerId);
            expect(entry).toEqual(oneByOne.entryOf(record.playerId));
            if (record.score === null) expect(entry).toBeUndefined();
            else expect(entry?.record).toEqual(record);
          }
        }),
        { numRuns: 200 },
      );
    },
  );

  it("keeps the entry with more submissions when a player comes twice", () => {
    const newer = { playerId: "p", score: 9, subscore: 0, seq: 2, submissions: 2, metadata: null, updateTime: 2 };
    const older = { ...newer, score: 1, seq: 1, submissions: 1, updateTime: 1 };
    for (const records of [
      [older, newer],
      [newer, older],
    ]) {
      const board = createBoard(LeaderboardOrder.HIGHER_FIRST, records, { chunkSize: 1 });
      expect(board.entryOf("p")).toEqual({ record: newer, rank: 1 });
      expect(board.rankedCount).toBe(1);
    }
  });
});

describe("a board taking back its own entries", () => {
  it("changes nothing and wakes no watcher when an entry it has comes again (from the change log)", () => {
    const board = createBoard(LeaderboardOrder.HIGHER_FIRST);
    let woken = 0;
    board.onChange(() => woken++);
    const alice = { playerId: "alice", score: 5, subscore: 0, seq: 1, submissions: 1, metadata: null, updateTime: 10 };
    const bob = { ...alice, playerId: "bob", score: 7, seq: 2 };
    board.apply([alice, bob]);
    expect(woken).toBe(1);
    board.apply([{ ...alice }]);
    board.apply([joinedEntry("carol")]);
    board.apply([joinedEntry("carol")]);
    expect(woken).toBe(2);
    expect(board.page(0, 5).map((e) => [e.record.playerId, e.rank])).toEqual([
      ["bob", 1],
      ["alice", 2],
    ]);
    // The same submission count with other content is still applied (it is not the same entry).
    board.apply([{ ...alice, metadata: '{"x":1}' }]);
    expect(woken).toBe(3);
    expect(board.entryOf("alice")?.record.metadata).toBe('{"x":1}');
  });
});
