import type { Clock } from "../clock.js";

/** A clock the demo moves by hand from weeks ago up to now, so that the real scheduler lives through that time. */
export interface DemoClock extends Clock {
  /** Moves the clock to `ms` (never back), firing every timer due on the way, in time order. */
  set(ms: number): void;
  /** Whether a timer is due at the clock's time and has not fired (one set while the clock stood there). */
  hasDueTimers(): boolean;
}

/** A clock that starts at `start` and only moves when told. */
export function createDemoClock(start: number): DemoClock {
  let now = start;
  let nextId = 0;
  const timers = new Map<number, { at: number; fire: () => void }>();
  return {
    now: () => now,
    timer(at, fire) {
      const id = nextId++;
      // Like the system clock's, a timer never fires inside the call that sets it: the next set() fires it.
      timers.set(id, { at: Math.max(at, now), fire });
      return () => timers.delete(id);
    },
    set(ms) {
      for (;;) {
        let due: [number, { at: number; fire: () => void }] | undefined;
        for (const entry of timers) if (entry[1].at <= ms && (!due || entry[1].at < due[1].at)) due = entry;
        if (!due) break;
        timers.delete(due[0]);
        now = Math.max(now, due[1].at);
        due[1].fire();
      }
      now = Math.max(now, ms);
    },
    hasDueTimers: () => [...timers.values()].some((timer) => timer.at <= now),
  };
}
