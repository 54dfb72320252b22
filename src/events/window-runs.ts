import { Code } from "@connectrpc/connect";
import type { ListEventRunsRequest } from "../../gen/liveops/v1/event_service_pb.js";
import type { EventTargeting } from "../audiences/audience-catalog.js";
import { invalidArgument, serviceError } from "../errors.js";
import { targetingOf } from "../players/player-view.js";
import type { EventRow } from "./event-record.js";
import type { ListedRun, RunQueries } from "./event-runs.js";
import type { EventStore } from "./event-store.js";

/** The longest window of ListEventRuns across every event: a calendar's month with its leading and trailing days. */
const MAX_WINDOW_MS = 45 * 86_400_000;
/** The most events one window may hold; a busier window is refused with a request to narrow it. */
const MAX_WINDOW_EVENTS = 1000;
/** The most runs of one event one window lists (an hourly rule over 45 days has 1,080). */
const MAX_RUNS_PER_EVENT = 2000;

/** A run of some event, in the window's order. */
export interface WindowRun extends ListedRun {
  eventId: string;
}

/** A position in a window's runs: after this run. */
export interface WindowCursor {
  startTime: number;
  eventId: string;
  runNumber: number;
}

/** Whether a decoded page token is a {@link WindowCursor}. */
export function isWindowCursor(value: unknown): value is WindowCursor {
  const c = value as WindowCursor;
  return (
    typeof c === "object" &&
    c !== null &&
    Number.isSafeInteger(c.startTime) &&
    typeof c.eventId === "string" &&
    Number.isSafeInteger(c.runNumber)
  );
}

/** The window of a ListEventRuns request without an event id: both bounds required, at most 45 days apart. */
export function checkWindow(req: ListEventRunsRequest, window: { from: number; to: number }) {
  const missing = [...(req.startTime ? [] : ["start_time"]), ...(req.endTime ? [] : ["end_time"])].map((field) => ({
    field,
    description: "is required when event_id is empty (the runs of every event are listed in a window)",
    reason: "WINDOW_REQUIRED",
  }));
  if (missing.length > 0) throw invalidArgument(missing);
  if (window.to - window.from > MAX_WINDOW_MS) {
    throw invalidArgument([
      {
        field: "end_time",
        description: "must be at most 45 days after start_time when event_id is empty",
        reason: "WINDOW_TOO_LONG",
      },
    ]);
  }
}

const byWindowOrder = (a: WindowRun, b: WindowRun) =>
  a.startTime - b.startTime || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : a.runNumber - b.runNumber);

/**
 * The runs of every event (of every event that `visible` lets through) that overlap [from, to), by start time, then
 * event id, then run number, after `cursor`: up to `limit` + 1 of them, so the caller knows whether a page follows.
 * Each event's runs come from {@link RunQueries.runsInWindow}, so computed runs of open-ended rules are included.
 */
export async function runsOfEveryEvent(
  deps: { store: EventStore; runs: RunQueries },
  window: { from: number; to: number },
  cursor: WindowCursor | undefined,
  limit: number,
  options: { signal: AbortSignal; owner: string | undefined; visible?: (targeting: EventTargeting) => boolean },
): Promise<WindowRun[]> {
  const rows = await deps.store.eventsOverlapping(window.from, window.to, MAX_WINDOW_EVENTS + 1);
  if (rows.length > MAX_WINDOW_EVENTS) {
    throw serviceError(
      Code.FailedPrecondition,
      "WINDOW_TOO_BUSY",
      `more than ${MAX_WINDOW_EVENTS} events have runs in this window; ask for a shorter window`,
    );
  }
  const shown = options.visible ? rows.filter((row: EventRow) => options.visible?.(targetingOf(row))) : rows;
  const found: WindowRun[] = [];
  for (const row of shown) {
    const { runs, resumeAt } = await deps.runs.runsInWindow(row, window, undefined, MAX_RUNS_PER_EVENT, {
      signal: options.signal,
      owner: options.owner,
    });
    // A window must hold every run of every event or say it cannot: a calendar missing runs would look right.
    if (resumeAt !== undefined || runs.length > MAX_RUNS_PER_EVENT) {
      throw serviceError(
        Code.FailedPrecondition,
        "WINDOW_TOO_BUSY",
        `event ${row.id} has more runs in this window than can be listed with every event's (at most ${MAX_RUNS_PER_EVENT}, computed within the budget of a page); list its runs alone, or ask for a shorter window`,
      );
    }
    for (const run of runs) found.push({ ...run, eventId: row.id });
  }
  found.sort(byWindowOrder);
  const start = cursor
    ? found.findIndex((run) => byWindowOrder(run, { ...cursor, endTime: 0, endedEarly: false }) > 0)
    : 0;
  return start < 0 ? [] : found.slice(start, start + limit + 1);
}
