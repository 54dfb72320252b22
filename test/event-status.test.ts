import { describe, expect, it } from "vitest";
import { EventStatus } from "../gen/liveops/v1/event_pb.js";
import { type EventRow, eventStateAt, type RunRow } from "../src/events/event-record.js";

// An event's status, from its runs, as the store computes it (pure: no server, no database).
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
