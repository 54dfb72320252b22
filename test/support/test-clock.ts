import type { Clock } from "../../src/clock.js";

/** A clock the test moves by hand. */
export interface TestClock extends Clock {
  /** Moves the clock to `ms`, firing every timer due on the way, in time order. */
  set(ms: number): void;
  advance(ms: number): void;
  /** Timers set and not yet fired or cancelled. */
  pendingTimers(): number;
}

/** A clock that starts at `start` (default 2026-06-01T12:00:00Z) and only moves when told. */
export function createTestClock(start = Date.UTC(2026, 5, 1, 12)): TestClock {
  let now = start;
  let nextId = 0;
  const timers = new Map<number, { at: number; fire: () => void }>();
  const set = (ms: number) => {
    for (;;) {
      let due: [number, { at: number; fire: () => void }] | undefined;
      for (const entry of timers) if (entry[1].at <= ms && (!due || entry[1].at < due[1].at)) due = entry;
      if (!due) break;
      timers.delete(due[0]);
      now = Math.max(now, due[1].at);
      due[1].fire();
    }
    now = ms;
  };
  return {
    now: () => now,
    timer(at, fire) {
      const id = nextId++;
      // Like the system clock, a timer never fires inside the call that sets it.
      timers.set(id, { at: Math.max(at, now + 0), fire });
      return () => timers.delete(id);
    },
    set,
    advance(ms) {
      set(now + ms);
    },
    pendingTimers: () => timers.size,
  };
}
