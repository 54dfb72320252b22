import { afterAll, describe, expect, it } from "vitest";
import { createRecurrenceExpander, RecurrenceTooCostly } from "../src/events/recurrence-expander.js";

const HOUR = 3_600_000;
const expander = createRecurrenceExpander({ timeoutMs: 500, workers: 2, maxQueued: 10 });
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
    // rrule loops forever here: from an even hour, an INTERVAL of 2 hours never reaches 01:00. (The service
    // refuses such a start before walking; the worker's time limit is what holds for every other rule.)
    const start = Date.UTC(2026, 0, 1, 0);
    const t0 = performance.now();
    const { lagMs, outcome } = await loopLagDuring(
      expander.planRuns({
        recurrence: { rule: "FREQ=HOURLY;INTERVAL=2;BYHOUR=1", runDurationMs: HOUR },
        startTime: start,
        endLimit: undefined,
        from: undefined,
        continueFrom: false,
        policy: { kind: "write", now: start, after: undefined },
      }),
    );
    expect(outcome).toBeInstanceOf(RecurrenceTooCostly);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(lagMs).toBeLessThan(100);
  });

  it("walks the next rule in a fresh worker", async () => {
    const saturday = Date.UTC(2026, 5, 6, 18);
    expect(
      await expander.checkRecurrence({
        recurrence: { rule: "FREQ=WEEKLY;BYDAY=SA", runDurationMs: HOUR },
        startTime: saturday,
        endLimit: undefined,
        prefix: "e",
      }),
    ).toEqual([]);
  });
});
