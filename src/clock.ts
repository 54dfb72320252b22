/** The source of "now" for everything that depends on it, so tests can control time. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fire` once the clock reaches `at`; the returned function cancels it. */
  timer(at: number, fire: () => void): () => void;
}

/** setTimeout's longest delay; a later timer is set again when this one fires. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The machine's wall clock. Its timers do not keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  timer(at, fire) {
    let handle: NodeJS.Timeout;
    const arm = () => {
      const delay = at - Date.now();
      if (delay <= 0) return fire();
      handle = setTimeout(arm, Math.min(delay, MAX_TIMEOUT_MS));
      handle.unref();
    };
    // Never fire synchronously: callers set timers in the middle of their own work.
    handle = setTimeout(arm, 0);
    handle.unref();
    return () => clearTimeout(handle);
  },
};

/** A clock that only moves when told: the tests' clock, and the demo's, which lives weeks of history in seconds. */
export interface ManualClock extends Clock {
  /** Moves the clock to `ms`, firing every timer due on the way, in time order. */
  set(ms: number): void;
  advance(ms: number): void;
  /** Timers set and not yet fired or cancelled. */
  pendingTimers(): number;
  /** Whether a timer is due at the clock's time and has not fired (one set while the clock stood there). */
  hasDueTimers(): boolean;
}

/** A {@link ManualClock} that starts at `start`. */
export function createManualClock(start: number): ManualClock {
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
      // Like the system clock, a timer never fires inside the call that sets it: the next set() fires it.
      timers.set(id, { at: Math.max(at, now), fire });
      return () => timers.delete(id);
    },
    set,
    advance(ms) {
      set(now + ms);
    },
    pendingTimers: () => timers.size,
    hasDueTimers: () => [...timers.values()].some((timer) => timer.at <= now),
  };
}
