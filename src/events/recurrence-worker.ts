import { parentPort } from "node:worker_threads";
import { checkRecurrence, type WalkMemo } from "./recurrence.js";
import type { ExpansionReply, ExpansionRequest, ExpansionResult } from "./recurrence-expander.js";
import { planRuns } from "./run-planning.js";

// The worker thread of recurrence-expander.ts: walks rules off the event loop, where a walk that runs too long is
// ended by terminating the thread.
const port = parentPort;
if (!port) throw new Error("recurrence-worker runs as a worker thread");
port.on("message", ({ id, task }: ExpansionRequest) => {
  let reply: ExpansionReply;
  try {
    const memo: WalkMemo = new Map();
    const { check, plan } = task;
    const violations = check
      ? checkRecurrence(check.recurrence, check.startTime, check.endLimit, check.prefix, memo)
      : [];
    const result: ExpansionResult = {
      violations,
      runs: plan && violations.length === 0 ? planRuns(plan, memo) : undefined,
    };
    reply = { id, result };
  } catch (err) {
    reply = { id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
port.postMessage({ ready: true } satisfies ExpansionReply);
