import { TIMESTAMP_MAX_MS } from "../timestamps.js";
import {
  occurrenceStarts,
  type Recurrence,
  ruleIsBounded,
  type WalkMemo,
  walkContinuesAt,
  zoneOf,
} from "./recurrence.js";

/** An open-ended rule's runs are planned this far ahead of now (or of the first start). */
export const PLANNING_HORIZON_MS = 30 * 86_400_000;
/** At most this many runs of an open-ended rule are planned at once. */
const PLANNING_BATCH = 1000;
/**
 * Occurrences of an open-ended rule examined at most per ListEventRuns page beyond the planned runs: a page of an
 * every-minute rule costs a few milliseconds of a worker, whatever window it asks for.
 */
export const UNPLANNED_BUDGET = 2000;

/** A run to store (or to list, when an open-ended rule's run is computed rather than stored). */
export interface PlannedRun {
  runNumber: number;
  startTime: number;
  endTime: number;
}

/** A run the plan continues after: an occurrence of the rule. */
export interface RunPosition {
  runNumber: number;
  startTime: number;
}

/**
 * How the runs of a plan are chosen, as data so that a plan can be computed off the event loop:
 * - `write`: after an event is written, the runs that follow `after` (every run of a bounded series, or those within
 *   the planning horizon of an open-ended rule);
 * - `extend`: the next runs of an open-ended rule whose last planned run has started;
 * - `window`: runs of an open-ended rule not planned yet, for a ListEventRuns page of `wanted` runs in a window,
 *   examining at most {@link UNPLANNED_BUDGET} occurrences.
 */
export type PlanPolicy =
  | { kind: "write"; now: number; after: number | undefined }
  | { kind: "extend"; now: number }
  | { kind: "window"; from: number; to: number; wanted: number };

/** A plan to compute: an event's schedule, where the plan continues, and how runs are chosen. */
export interface PlanRequest {
  recurrence: Recurrence;
  /** The event's first start. */
  startTime: number;
  /** The event's end limit, if it has one: no run starts at or after it. */
  endLimit: number | undefined;
  /** The run the plan numbers after (and, with `continueFrom`, walks the rule from). */
  from: RunPosition | undefined;
  /** Continue an open-ended rule from `from` rather than walk it from `startTime`. */
  continueFrom: boolean;
  policy: PlanPolicy;
}

/**
 * What to do with the next occurrence: not a run of this plan (`skip`), a run that never happened because it would
 * have ended before the event existed or while the scheduler was down (`pass`: not stored, but numbered, so that run
 * numbers still count the rule's occurrences), a run, or the end of the plan.
 */
type Decision = "skip" | "pass" | "take" | "stop";

/** Whether more runs of an open-ended rule are wanted: within the horizon, and at least two to come. */
function withinHorizon(now: number, startTime: number) {
  const horizon = Math.max(now, startTime) + PLANNING_HORIZON_MS;
  let upcoming = 0;
  return (start: number, taken: number): boolean => {
    if (taken >= PLANNING_BATCH) return false;
    if (start > now) upcoming++;
    return start < horizon || upcoming <= 2;
  };
}

/** The decision of `request`'s policy for each occurrence. */
function decider({ recurrence, startTime, endLimit, policy }: PlanRequest): (start: number, taken: number) => Decision {
  switch (policy.kind) {
    case "write": {
      const bounded = ruleIsBounded(recurrence.rule) || endLimit !== undefined;
      const wanted = withinHorizon(policy.now, startTime);
      const { after, now } = policy;
      return (start, taken) => {
        if (after !== undefined && start <= after) return "skip";
        // A new schedule starts its history now: runs that would have ended already are not planned.
        if (after === undefined && start + recurrence.runDurationMs <= now) return "pass";
        return bounded || wanted(start, taken) ? "take" : "stop";
      };
    }
    case "extend": {
      const wanted = withinHorizon(policy.now, startTime);
      return (start, taken) => {
        if (start + recurrence.runDurationMs <= policy.now) return "pass";
        return wanted(start, taken) ? "take" : "stop";
      };
    }
    case "window": {
      let inWindow = 0;
      return (start, taken) => {
        if (start >= policy.to || inWindow >= policy.wanted || taken >= UNPLANNED_BUDGET) return "stop";
        if (start + recurrence.runDurationMs > policy.from) inWindow++;
        return "take";
      };
    }
  }
}

/**
 * The runs of a recurring schedule that `request` asks for, numbered after `from`. An open-ended rule continued
 * from `from` is not walked from its beginning; otherwise the series is walked from the first start and the policy
 * skips the occurrences already run (also when `from` is an instant two wall-clock times give, after a gap). Runs
 * follow the rule's wall clock in its time zone (recurrence.ts occurrenceStarts). The occurrence that stops the plan
 * still bounds the end of the last run. Pure and possibly long (it walks the rule): the service runs it in a worker
 * (recurrence-expander.ts).
 */
export function planRuns(request: PlanRequest, memo?: WalkMemo): PlannedRun[] {
  const { recurrence, endLimit, from } = request;
  const continues =
    request.continueFrom &&
    from !== undefined &&
    !ruleIsBounded(recurrence.rule) &&
    endLimit === undefined &&
    walkContinuesAt(recurrence, from.startTime);
  const first = continues ? from.startTime : request.startTime;
  // A plan that should follow `from` but cannot start its walk there walks from the first start past it.
  const skipThrough = request.continueFrom && from !== undefined && !continues ? from.startTime : undefined;
  const decide = decider(request);
  const starts: number[] = [];
  const numbers: number[] = [];
  let next = (from?.runNumber ?? 0) + 1;
  let following: number | undefined;
  occurrenceStarts(
    recurrence.rule,
    first,
    (start) => {
      if (endLimit !== undefined && start >= endLimit) return false;
      if (continues && start === first) return true;
      if (skipThrough !== undefined && start <= skipThrough) return true;
      const decision = decide(start, starts.length);
      if (decision === "stop") following = start;
      else if (decision === "pass") next++;
      else if (decision === "take") {
        starts.push(start);
        numbers.push(next++);
      }
      return decision !== "stop";
    },
    memo,
    zoneOf(recurrence),
  );
  return starts.map((start, i) => ({
    runNumber: numbers[i] as number,
    startTime: start,
    // Runs never overlap: the rule's check covers the first runs, this covers any later exception. No run ends
    // past what a Timestamp can carry, so every stored run can be read back.
    endTime: Math.min(
      start + recurrence.runDurationMs,
      starts[i + 1] ?? following ?? TIMESTAMP_MAX_MS,
      endLimit ?? TIMESTAMP_MAX_MS,
      TIMESTAMP_MAX_MS,
    ),
  }));
}
