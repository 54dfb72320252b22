import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { EventStatus, RewardSchema } from "../gen/liveops/v1/event_pb.js";
import { type EventRow, eventStateAt, type RunRow } from "../src/events/event-record.js";
import { validateEventFields } from "../src/events/event-validation.js";
import { createPageTokens, takePage } from "../src/page-token.js";

describe("event status", () => {
  const row = { startTime: 100, endTime: 400 } as EventRow;
  const run = (n: number, startTime: number, endTime: number) => ({ runNumber: n, startTime, endTime }) as RunRow;
  const runs = [run(1, 100, 200), run(2, 300, 400)];
  /** The status at `at`, given the runs that end after it, as the store reads them. */
  const statusAt = (at: number) =>
    eventStateAt(
      row,
      runs.filter((r) => r.endTime > at),
      at,
    ).status;

  it("is UPCOMING before the first run, ACTIVE during a run, BETWEEN_RUNS between runs, ENDED after the last", () => {
    expect(statusAt(99)).toBe(EventStatus.UPCOMING);
    expect(statusAt(100)).toBe(EventStatus.ACTIVE);
    expect(statusAt(199)).toBe(EventStatus.ACTIVE);
    expect(statusAt(200)).toBe(EventStatus.BETWEEN_RUNS);
    expect(statusAt(299)).toBe(EventStatus.BETWEEN_RUNS);
    expect(statusAt(300)).toBe(EventStatus.ACTIVE);
    expect(statusAt(400)).toBe(EventStatus.ENDED);
  });

  it("stays the same until the next boundary", () => {
    expect(eventStateAt(row, runs, 50).validUntil).toBe(100);
    expect(eventStateAt(row, runs, 150).validUntil).toBe(200);
    expect(eventStateAt(row, runs.slice(1), 250).validUntil).toBe(300);
    expect(eventStateAt(row, [], 450).validUntil).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("event field rules", () => {
  const valid = {
    title: "t",
    description: "",
    startTime: 0,
    endTime: 1,
    rewards: [],
    metadata: undefined,
    recurrence: undefined,
  };

  it("accepts the limits themselves", () => {
    const rewards = Array.from({ length: 100 }, (_, i) =>
      create(RewardSchema, { id: `r:${i}.x-y_z`, name: "n".repeat(100), quantity: 9_223_372_036_854_775_807n }),
    );
    expect(
      validateEventFields({ ...valid, title: "t".repeat(100), description: "d".repeat(1000), rewards }, "e"),
    ).toEqual([]);
  });

  it("names nested fields by index", () => {
    const rewards = [
      create(RewardSchema, { id: "ok", name: "ok", quantity: 1n }),
      create(RewardSchema, { id: "bad id" }),
    ];
    const fields = validateEventFields({ ...valid, rewards }, "event").map((v) => v.field);
    expect(fields).toEqual(["event.rewards[1].id", "event.rewards[1].name", "event.rewards[1].quantity"]);
  });
});

describe("page tokens", () => {
  const tokens = createPageTokens(() => Buffer.alloc(32, 7));

  it("round-trip a cursor within one scope", () => {
    const token = tokens.encode("ListEvents/0", { startTime: 5, id: "x" });
    expect(tokens.decode("ListEvents/0", token)).toEqual({ startTime: 5, id: "x" });
    expect(tokens.decode("ListEvents/0", "")).toBeUndefined();
  });

  it("are refused in another scope or under another secret", () => {
    const token = tokens.encode("ListEvents/0", { startTime: 5, id: "x" });
    expect(() => tokens.decode("ListEvents/2", token)).toThrow(/page_token/);
    expect(() => createPageTokens(() => Buffer.alloc(32, 8)).decode("ListEvents/0", token)).toThrow(/page_token/);
  });
});

describe("taking a page", () => {
  it("continues after the last row only when more rows follow", () => {
    expect(takePage([1, 2, 3], 2)).toEqual({ page: [1, 2], last: 2 });
    expect(takePage([1, 2], 2)).toEqual({ page: [1, 2], last: undefined });
  });

  it("ends early where a row does not fit, but always keeps the first", () => {
    expect(takePage([10, 20, 30], 5, (n) => n < 20)).toEqual({ page: [10], last: 10 });
    expect(takePage([99, 1], 5, () => false)).toEqual({ page: [99], last: 99 });
  });
});
