import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { EventStatus, RewardSchema } from "../gen/liveops/v1/event_pb.js";
import { eventStatusAt } from "../src/events/event-status.js";
import { validateEventFields } from "../src/events/event-validation.js";
import { createPageTokens, takePage } from "../src/page-token.js";

describe("event status", () => {
  it("is UPCOMING before the start, ACTIVE from the start until the end, ENDED from the end", () => {
    expect(eventStatusAt(100, 200, 99)).toBe(EventStatus.UPCOMING);
    expect(eventStatusAt(100, 200, 100)).toBe(EventStatus.ACTIVE);
    expect(eventStatusAt(100, 200, 199)).toBe(EventStatus.ACTIVE);
    expect(eventStatusAt(100, 200, 200)).toBe(EventStatus.ENDED);
  });
});

describe("event field rules", () => {
  const valid = { title: "t", description: "", startTime: 0, endTime: 1, rewards: [], metadata: undefined };

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
  const tokens = createPageTokens(Buffer.alloc(32, 7));

  it("round-trip a cursor within one scope", () => {
    const token = tokens.encode("ListEvents/0", { startTime: 5, id: "x" });
    expect(tokens.decode("ListEvents/0", token)).toEqual({ startTime: 5, id: "x" });
    expect(tokens.decode("ListEvents/0", "")).toBeUndefined();
  });

  it("are refused in another scope or under another secret", () => {
    const token = tokens.encode("ListEvents/0", { startTime: 5, id: "x" });
    expect(() => tokens.decode("ListEvents/2", token)).toThrow(/page_token/);
    expect(() => createPageTokens(Buffer.alloc(32, 8)).decode("ListEvents/0", token)).toThrow(/page_token/);
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
