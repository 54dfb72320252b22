import type { Clock } from "../../src/clock.js";

/** A clock the test moves by hand. */
export interface TestClock extends Clock {
  set(ms: number): void;
  advance(ms: number): void;
}

/** A clock that starts at `start` (default 2026-06-01T12:00:00Z) and only moves when told. */
export function createTestClock(start = Date.UTC(2026, 5, 1, 12)): TestClock {
  let now = start;
  return {
    now: () => now,
    set(ms) {
      now = ms;
    },
    advance(ms) {
      now += ms;
    },
  };
}
