import { and, asc, desc, eq, gt, lte, sql } from "drizzle-orm";
import type { Db, Tx } from "../db/database.js";
import { eventRuns, events } from "../db/schema.js";
import type { FieldViolation } from "../errors.js";
import { type EventFields, type EventRow, OPEN_END, type RunRow, recurrenceOf } from "./event-record.js";
import { type Recurrence, ruleIsBounded } from "./recurrence.js";
import type { RecurrenceExpander, ScheduleCheck, WalkOptions } from "./recurrence-expander.js";
import {
  type PlannedRun,
  type PlanPolicy,
  type PlanRequest,
  type RunPosition,
  UNPLANNED_BUDGET,
} from "./run-planning.js";

/**
 * The runs an event's write plans, computed before its transaction (walking a rule takes a worker, and a SQLite
 * transaction never awaits). It holds as long as the event's version and runs revision are those it was computed
 * from, which the write checks.
 */
export interface RunPlan {
  runs: PlannedRun[];
}

/** The end of a live run `last` once an event's fields are `fields`: its planned end or the event's new end. */
function liveRunEnd(last: RunRow, fields: EventFields): number {
  const { recurrence } = fields;
  return recurrence
    ? Math.min(last.startTime + recurrence.runDurationMs, fields.endTime ?? OPEN_END)
    : (fields.endTime as number);
}

/** Whether `run` is live at `now` and ends with the event's schedule (a run ended early keeps its end). */
function isLive(run: RunRow, now: number): boolean {
  return !run.endedEarly && run.endTime > now;
}

/**
 * Computes the runs a write of `fields` plans at `now` (off the event loop, for a recurring event), from the runs
 * of event `eventId` that have started (none for a new event), after `check`ing the schedule in the same walk of
 * its rule; no plan when the check finds violations. Runs that have started are history and stay; later runs are
 * planned again. `ruleChanged` makes a recurring event's series be walked from its first start rather than
 * continued from its last run.
 */
export async function prepareRunPlan(
  runs: RunQueries,
  expander: RecurrenceExpander,
  eventId: string | undefined,
  fields: EventFields,
  now: number,
  ruleChanged: boolean,
  check: ScheduleCheck | undefined,
  walk: WalkOptions = {},
): Promise<{ violations: FieldViolation[]; plan: RunPlan | undefined }> {
  const last = eventId === undefined ? undefined : runs.lastStartedRun(eventId, now);
  const { recurrence } = fields;
  if (!recurrence) {
    const planned = last ? [] : [{ runNumber: 1, startTime: fields.startTime, endTime: fields.endTime as number }];
    return { violations: [], plan: { runs: planned } };
  }
  const lastEnd = last && (isLive(last, now) ? liveRunEnd(last, fields) : last.endTime);
  // Runs already started stay; a changed rule's runs follow the last of them and start after now.
  const after = last && (ruleChanged ? Math.max(now, (lastEnd as number) - 1) : last.startTime);
  const walked = await expander.walk(
    {
      check,
      plan: {
        recurrence,
        startTime: fields.startTime,
        endLimit: fields.endTime,
        from: last && { runNumber: last.runNumber, startTime: last.startTime },
        continueFrom: !ruleChanged,
        policy: { kind: "write", now, after },
      },
    },
    walk,
  );
  return { violations: walked.violations, plan: walked.runs && { runs: walked.runs } };
}

/**
 * Stores a plan made by {@link prepareRunPlan} inside the write's transaction, and returns the end of the event's
 * last run (OPEN_END for an open-ended rule): later runs are replaced, and a live run ends at its planned end or at
 * the event's new end, whichever is first.
 */
export function applyRunPlan(
  tx: Tx,
  runs: RunQueries,
  eventId: string,
  fields: EventFields,
  now: number,
  plan: RunPlan,
): number {
  const last = tx
    .select()
    .from(eventRuns)
    .where(and(eq(eventRuns.eventId, eventId), lte(eventRuns.startTime, now)))
    .orderBy(desc(eventRuns.runNumber))
    .limit(1)
    .get();
  tx.delete(eventRuns)
    .where(and(eq(eventRuns.eventId, eventId), gt(eventRuns.startTime, now)))
    .run();
  if (last && isLive(last, now)) {
    last.endTime = liveRunEnd(last, fields);
    tx.update(eventRuns)
      .set({ endTime: last.endTime })
      .where(and(eq(eventRuns.eventId, eventId), eq(eventRuns.runNumber, last.runNumber)))
      .run();
  }
  runs.insertRuns(eventId, plan.runs, now);
  const { recurrence } = fields;
  if (recurrence && !ruleIsBounded(recurrence.rule) && fields.endTime === undefined) return OPEN_END;
  return (plan.runs.at(-1) ?? last)?.endTime ?? fields.startTime;
}

/** Ends a live run now, as ended early (its ENDED change is logged by the caller, so it counts as announced). */
export function endRunNow(tx: Tx, run: RunRow, now: number): RunRow {
  return tx
    .update(eventRuns)
    .set({ endTime: now, endedEarly: true, endAnnounced: true })
    .where(and(eq(eventRuns.eventId, run.eventId), eq(eventRuns.runNumber, run.runNumber)))
    .returning()
    .get() as RunRow;
}

/** Drops the runs of an event that start after `now` and returns the end of its last remaining run. */
export function dropRunsAfter(tx: Tx, eventId: string, now: number): number {
  tx.delete(eventRuns)
    .where(and(eq(eventRuns.eventId, eventId), gt(eventRuns.startTime, now)))
    .run();
  return lastRunEnd(tx, eventId, OPEN_END, now);
}

/**
 * The event's end after one of its runs ended early: `eventEnd` while runs follow `now`, else the end of the run
 * that ended last.
 */
export function lastRunEnd(tx: Tx, eventId: string, eventEnd: number, now: number): number {
  const following = tx
    .select({ start: eventRuns.startTime })
    .from(eventRuns)
    .where(and(eq(eventRuns.eventId, eventId), gt(eventRuns.startTime, now)))
    .limit(1)
    .get();
  if (following) return eventEnd;
  const last = tx
    .select({ end: sql<number | null>`max(${eventRuns.endTime})` })
    .from(eventRuns)
    .where(eq(eventRuns.eventId, eventId))
    .get();
  return last?.end ?? now;
}

/** The last run of an event that is stored: the end of what is planned. */
function lastPlannedRun(db: Tx | Db, eventId: string): RunRow | undefined {
  return db
    .select()
    .from(eventRuns)
    .where(eq(eventRuns.eventId, eventId))
    .orderBy(desc(eventRuns.runNumber))
    .limit(1)
    .get();
}

/** A plan that continues the open-ended rule of `row` from its run `from`, chosen by `policy`. */
function continuation(row: EventRow, recurrence: Recurrence, from: RunPosition, policy: PlanPolicy): PlanRequest {
  return {
    recurrence,
    startTime: row.startTime,
    endLimit: undefined,
    from: { runNumber: from.runNumber, startTime: from.startTime },
    continueFrom: true,
    policy,
  };
}

/** The next runs of an open-ended event, computed before the transaction that stores them. */
export interface RunExtension {
  eventId: string;
  /** The event's version and runs revision they were planned from: stored only if the event has not changed. */
  version: number;
  runsRevision: number;
  runs: PlannedRun[];
}

/**
 * Computes (off the event loop) the next runs of an open-ended event whose last planned run has started,
 * continuing its rule from that run; undefined when it needs none.
 */
export async function prepareExtension(
  runs: RunQueries,
  expander: RecurrenceExpander,
  row: EventRow,
  now: number,
): Promise<RunExtension | undefined> {
  const recurrence = recurrenceOf(row);
  if (!recurrence || row.endTime !== OPEN_END) return undefined;
  const last = runs.lastPlannedRun(row.id);
  if (!last || last.startTime > now) return undefined;
  const planned = await expander.planRuns(continuation(row, recurrence, last, { kind: "extend", now }));
  return { eventId: row.id, version: row.version, runsRevision: row.runsRevision, runs: planned };
}

/**
 * Stores an extension, unless the event changed since it was computed (an EndEvent or an update ends or replans
 * its runs). Returns whether it was stored.
 */
export function storeExtension(tx: Tx, runs: RunQueries, extension: RunExtension, now: number): boolean {
  const row = tx
    .select({ version: events.version, runsRevision: events.runsRevision, endTime: events.endTime })
    .from(events)
    .where(eq(events.id, extension.eventId))
    .get();
  if (row?.version !== extension.version || row.runsRevision !== extension.runsRevision) return false;
  if (row.endTime !== OPEN_END) return false;
  runs.insertRuns(extension.eventId, extension.runs, now);
  tx.update(events)
    .set({ runsRevision: sql`${events.runsRevision} + 1` })
    .where(eq(events.id, extension.eventId))
    .run();
  return true;
}

/** The columns of event_runs as SQLite returns them. */
interface RunColumns {
  event_id: string;
  run_number: number;
  start_time: number;
  end_time: number;
  ended_early: number;
  start_announced: number;
  end_announced: number;
  finalized: number;
}

function runOf(c: RunColumns): RunRow {
  return {
    eventId: c.event_id,
    runNumber: c.run_number,
    startTime: c.start_time,
    endTime: c.end_time,
    endedEarly: c.ended_early === 1,
    startAnnounced: c.start_announced === 1,
    endAnnounced: c.end_announced === 1,
    finalized: c.finalized === 1,
  };
}

/** A position in an event's runs, for ListEventRuns pages: after this run. */
export interface RunCursor {
  runNumber: number;
  startTime: number;
}

/** A run listed by ListEventRuns. */
export type ListedRun = Pick<RunRow, "runNumber" | "startTime" | "endTime" | "endedEarly">;

/** Queries of runs; open-ended rules' runs beyond the planned ones are computed by `expander`. */
export function createRunQueries(db: Db, expander: RecurrenceExpander) {
  // The hottest run read (every event of every read): a plain better-sqlite3 statement, a third of the cost of the
  // same query through drizzle's row mapping.
  const firstEndingAfter = db.$client.prepare<[string, number], RunColumns>(
    "SELECT event_id, run_number, start_time, end_time, ended_early, start_announced, end_announced, finalized FROM event_runs WHERE event_id = ? AND end_time > ? ORDER BY end_time LIMIT 2",
  );
  const byNumber = db.$client.prepare<[string, number], RunColumns>(
    "SELECT event_id, run_number, start_time, end_time, ended_early, start_announced, end_announced, finalized FROM event_runs WHERE event_id = ? AND run_number = ?",
  );
  const lastStarted = db.$client.prepare<[string, number], RunColumns>(
    "SELECT event_id, run_number, start_time, end_time, ended_early, start_announced, end_announced, finalized FROM event_runs WHERE event_id = ? AND start_time <= ? ORDER BY run_number DESC LIMIT 1",
  );
  const announced = db.$client.prepare<[string, number, number]>(
    "SELECT 1 FROM event_runs WHERE event_id = ? AND ((start_time > ? AND start_announced = 1) OR (end_time > ? AND end_announced = 1)) LIMIT 1",
  );
  // A plan may hold a thousand runs: one prepared row at a time costs a quarter of drizzle's multi-row INSERT.
  const insertRun = db.$client.prepare<[string, number, number, number, number, number]>(
    "INSERT INTO event_runs (event_id, run_number, start_time, end_time, start_announced, end_announced) VALUES (?, ?, ?, ?, ?, ?)",
  );
  return {
    /**
     * Inserts planned runs, inside the caller's transaction (on the same connection); boundaries at or before `now`
     * count as announced (they happened with this write).
     */
    insertRuns(eventId: string, planned: readonly PlannedRun[], now: number) {
      for (const run of planned) {
        const { runNumber, startTime, endTime } = run;
        insertRun.run(eventId, runNumber, startTime, endTime, startTime <= now ? 1 : 0, endTime <= now ? 1 : 0);
      }
    },

    /** Whether a boundary of an event's runs later than `at` has been announced (the scheduler ran past `at`). */
    announcedAfter(eventId: string, at: number): boolean {
      return announced.get(eventId, at, at) !== undefined;
    },

    /** The last run of an event that is stored: the end of what is planned. */
    lastPlannedRun(eventId: string): RunRow | undefined {
      return lastPlannedRun(db, eventId);
    },

    /** One run of an event by its number. */
    runByNumber(eventId: string, runNumber: number): RunRow | undefined {
      const c = byNumber.get(eventId, runNumber);
      return c && runOf(c);
    },

    /** The last run of an event that started at or before `at`. */
    lastStartedRun(eventId: string, at: number): RunRow | undefined {
      const c = lastStarted.get(eventId, at);
      return c && runOf(c);
    },

    /** The (at most two) first runs of an event that end after `at`: the live one, if any, and the next. */
    runsEndingAfter(eventId: string, at: number): RunRow[] {
      return firstEndingAfter.all(eventId, at).map(runOf);
    },

    /**
     * Up to `limit` + 1 runs of `row` that overlap [from, to), after `cursor`: the stored runs, then those an
     * open-ended rule has not planned yet (computed, not stored). When fewer are found because the budget of
     * computed occurrences ran out, `resumeAt` is where the next page continues.
     */
    async runsInWindow(
      row: EventRow,
      window: { from: number; to: number },
      cursor: RunCursor | undefined,
      limit: number,
      walk: WalkOptions = {},
    ): Promise<{ runs: ListedRun[]; resumeAt: RunCursor | undefined }> {
      const stored = db
        .select()
        .from(eventRuns)
        .where(
          and(
            eq(eventRuns.eventId, row.id),
            gt(eventRuns.runNumber, cursor?.runNumber ?? 0),
            gt(eventRuns.endTime, window.from),
            sql`${eventRuns.startTime} < ${window.to}`,
          ),
        )
        .orderBy(asc(eventRuns.runNumber))
        .limit(limit + 1)
        .all();
      const recurrence = recurrenceOf(row);
      if (stored.length > limit || !recurrence || row.endTime !== OPEN_END) {
        return { runs: stored, resumeAt: undefined };
      }
      const lastPlanned = lastPlannedRun(db, row.id);
      if (!lastPlanned) return { runs: stored, resumeAt: undefined };
      const from = cursor && cursor.runNumber > lastPlanned.runNumber ? cursor : lastPlanned;
      const wanted = limit + 1 - stored.length;
      const policy = { kind: "window" as const, from: window.from, to: window.to, wanted };
      const candidates = await expander.planRuns(continuation(row, recurrence, from, policy), {
        ...walk,
        priority: "read",
      });
      const computed = candidates.filter((run) => run.endTime > window.from && run.startTime < window.to);
      const lastExamined = candidates.at(-1);
      const resumeAt =
        candidates.length >= UNPLANNED_BUDGET && computed.length < wanted && lastExamined
          ? { runNumber: lastExamined.runNumber, startTime: lastExamined.startTime }
          : undefined;
      const unplanned = computed.slice(0, wanted).map((run) => ({ ...run, endedEarly: false }));
      return { runs: [...stored, ...unplanned], resumeAt };
    },
  };
}

/** The run queries the services use. */
export type RunQueries = ReturnType<typeof createRunQueries>;
