import { afterAll, describe, expect, it } from "vitest";
import {
  createRecurrenceExpander,
  RecurrenceQueueFull,
  RecurrenceTooCostly,
} from "../src/events/recurrence-expander.js";

const HOUR = 3_600_000;
const START = Date.UTC(2026, 0, 1, 0);
const SATURDAY = Date.UTC(2026, 5, 6, 18);
/** A walk that never ends: from an even hour, an INTERVAL of 2 hours never reaches 01:00 (rrule loops forever). */
const endless = {
  plan: {
    recurrence: { rule: "FREQ=HOURLY;INTERVAL=2;BYHOUR=1", runDurationMs: HOUR },
    startTime: START,
    endLimit: undefined,
    from: undefined,
    continueFrom: false,
    policy: { kind: "write" as const, now: START, after: undefined },
  },
};
/** A check of `rule` from Saturday 2026-06-06 18:00. */
const checkOf = (rule: string, runDurationMs = HOUR) => ({
  check: { recurrence: { rule, runDurationMs }, startTime: SATURDAY, endLimit: undefined, prefix: "e" },
});
/** An expander of one worker with queues of `maxQueued`. */
const oneWorker = (maxQueued: number) =>
  createRecurrenceExpander({ timeoutMs: 5000, readTimeoutMs: 5000, workers: 1, maxQueued, maxQueuedReads: maxQueued });
const expander = createRecurrenceExpander({
  timeoutMs: 500,
  readTimeoutMs: 200,
  workers: 2,
  maxQueued: 10,
  maxQueuedReads: 2,
});
afterAll(() => expander.close());

/** The longest the event loop went without running a 5 ms timer while `work` ran. */
async function loopLagDuring<T>(work: Promise<T>): Promise<{ lagMs: number; outcome: T | Error }> {
  let last = performance.now();
  let lagMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    lagMs = Math.max(lagMs, now - last);
    last = now;
  }, 5);
  try {
    return { lagMs, outcome: await work.catch((err: Error) => err) };
  } finally {
    clearInterval(timer);
  }
}

describe("the recurrence expander", () => {
  it("ends a walk that never finishes, without blocking the event loop", async () => {
    // The service refuses such a start before walking; the worker's time limit is what holds for every other rule.
    const t0 = performance.now();
    const { lagMs, outcome } = await loopLagDuring(expander.planRuns(endless.plan));
    expect(outcome).toBeInstanceOf(RecurrenceTooCostly);
    // Ended by the worker's time limit (500 ms), plus a thread's start: seconds on a loaded machine, never endless.
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(lagMs).toBeLessThan(100);
  });

  it("walks the next rule after a walk was ended, in a new worker", async () => {
    expect(await expander.walk(checkOf("FREQ=WEEKLY;BYDAY=SA"))).toEqual({ violations: [], runs: undefined });
  });

  it("runs a write's walk at once however many reads wait, and drops a walk whose caller has gone", async () => {
    const quick = () => expander.walk(checkOf("FREQ=WEEKLY;BYDAY=SA"));
    // Both workers started (a thread's start is not what this measures).
    await Promise.all([quick(), quick()]);
    const reads = [1, 2, 3].map(() => expander.walk(endless, { priority: "read" }).catch((err: Error) => err));
    // Over the read queue's bound: refused at once.
    await expect(expander.walk(endless, { priority: "read" })).rejects.toBeInstanceOf(RecurrenceQueueFull);
    const t0 = performance.now();
    await expect(quick()).resolves.toEqual({ violations: [], runs: undefined });
    // Reads run on one worker at most: the other was free for the write (a read holds its worker 200 ms).
    expect(performance.now() - t0).toBeLessThan(150);
    const gone = new AbortController();
    const abandoned = expander.walk(endless, { signal: gone.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const abortedAt = performance.now();
    gone.abort(new Error("the client went away"));
    await expect(abandoned).rejects.toThrow("the client went away");
    // Its thread was ended at once, not at the walk's time limit (500 ms).
    expect(performance.now() - abortedAt).toBeLessThan(50);
    for (const outcome of await Promise.all(reads)) expect(outcome).toBeInstanceOf(RecurrenceTooCostly);
  });

  it("lets one caller fill only its share of the queue", async () => {
    const shared = oneWorker(4);
    // One runs, two wait: the third that would wait is refused, another caller's is not.
    const walks = [1, 2, 3].map(() => shared.walk(endless, { owner: "a" }).catch((err: Error) => err));
    await expect(shared.walk(endless, { owner: "a" })).rejects.toBeInstanceOf(RecurrenceQueueFull);
    const other = shared.walk(endless, { owner: "b" }).catch((err: Error) => err);
    await shared.close();
    for (const outcome of await Promise.all([...walks, other])) expect(outcome).not.toBeInstanceOf(RecurrenceQueueFull);
  });

  it("lets callers take turns: one caller's burst does not keep another's walk behind it", async () => {
    const turns = oneWorker(20);
    const check = checkOf("FREQ=MINUTELY;COUNT=3000", 30_000);
    const finished: string[] = [];
    const walk = (owner: string, name: string) => turns.walk(check, { owner }).then(() => finished.push(name));
    const burst = [1, 2, 3, 4, 5].map((i) => walk("a", `a${i}`));
    const other = walk("b", "b1");
    await Promise.all([...burst, other]);
    await turns.close();
    // a1 was running when b1 came and a's turn was due; b1 went right after, before the rest of a's burst.
    expect(finished.indexOf("b1")).toBeLessThanOrEqual(2);
  });

  it("never starves a caller with a backlog while others send one walk at a time", async () => {
    const turns = oneWorker(20);
    const check = checkOf("FREQ=WEEKLY;BYDAY=SA");
    const finished: string[] = [];
    const oneAtATime = async (owner: string) => {
      for (let i = 0; i < 15; i++) {
        await turns.walk(check, { owner });
        finished.push(owner);
      }
    };
    const backlog = [1, 2, 3].map(() => turns.walk(check, { owner: "a" }).then(() => finished.push("a")));
    await Promise.all([...backlog, oneAtATime("b"), oneAtATime("c")]);
    await turns.close();
    // Turns go a, b, c, a, b, c…: a's three walks are done among the first nine.
    expect(finished.lastIndexOf("a")).toBeLessThan(9);
  });
});
