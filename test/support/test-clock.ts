import { createManualClock, type ManualClock } from "../../src/clock.js";

/** A clock the test moves by hand (see {@link ManualClock}). */
export type TestClock = ManualClock;

/** A clock that starts at `start` (default 2026-06-01T12:00:00Z) and only moves when told. */
export function createTestClock(start = Date.UTC(2026, 5, 1, 12)): TestClock {
  return createManualClock(start);
}
