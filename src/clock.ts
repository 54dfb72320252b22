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
