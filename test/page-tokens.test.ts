import { describe, expect, it } from "vitest";
import { createPageTokens, takePage } from "../src/page-token.js";

// Pagination's two halves on their own: signed cursors, and cutting a page from the rows read (pure: no server).
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
