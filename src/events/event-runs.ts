import { and, asc, desc, eq, gt, lte, sql } from "drizzle-orm";
import type { Tx } from "../audit/audit-log.js";
import type { Db } from "../db/database.js";
import { eventRuns, events } from "../db/schema.js";
import { type EventFields, type EventRow, OPEN_END, type RunRow, recurrenceOf } from "./event-record.js";
import { occurrenceStarts, type Recurrence, ruleIsBounded } from "./recurrence.js";

/** An open-ended rule's runs are planned this far ahead of now (or of the first start). */
export const PLANNING_HORIZON_MS = 30 * 86_400_000;
/** At most this many runs of an open-ended rule are planned at once. */
const PLANNING_BATCH = 1000;
/** Rows per INSERT, well under SQLite's limit of bound variables. */
const INSERT_CHUNK = 500;

/** A run to store. */
type PlannedRun = Pick<RunRow, "runNumber" | "startTime" | "endTime">;

/** Where planning continues: after this run (an occurrence of the rule), or from the first start. */
type PlanningStart = { runNumber: number; startTime: number } | undefined;

/** What to do with the next occurrence: not a run of this plan, a run, or the end of the plan. */
type Decision = "skip" | "take" | "stop";

/**
 * The next runs of a recurring schedule, numbered after `from`. With `continueFrom`, an open-ended rule continues
 * from the occurrence `from` without walking the series from its beginning; otherwise the series is walked from
 * `startTime` and `decide` skips the occurrences already run. The occurrence that stops the plan still bounds the
 * end of the last run.
 */
function planRecurringRuns(
  recurrence: Recurrence,
  startTime: number,
  endLimit: number | undefined,
  from: PlanningStart,
  continueFrom: boolean,
  decide: (start: number, taken: number) => Decision,
): PlannedRun[] {
  const continues = continueFrom && from !== undefined && !ruleIsBounded(recurrence.rule) && endLimit === undefined;
  const first = continues ? from.startTime : startTime;
  const starts: number[] = [];
  let following: number | undefined;
  occurrenceStarts(recurrence.rule, first, (start) => {
    if (endLimit !== undefined && start >= endLimit) return false;
    if (continues && start === first) return true;
    const decision = decide(start, starts.length);
    if (decision === "stop") following = start;
    else if (decision === "take") starts.push(start);
    return decision !== "stop";
  });
  let next = (from?.runNumber ?? 0) + 1;
  return starts.map((start, i) => ({
    runNumber: next++,
    startTime: start,
    // Runs never overlap: the rule's check covers the first runs, this covers any later exception.
    endTime: Math.min(start + recurrence.runDurationMs, starts[i + 1] ?? following ?? OPEN_END, endLimit ?? OPEN_END),
  }));
}

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

/** Inserts planned runs; boundaries at or before `now` count as announced (they happened with this write). */
function insertRuns(tx: Tx, eventId: string, runs: readonly PlannedRun[], now: number) {
  for (let i = 0; i < runs.length; i += INSERT_CHUNK) {
    tx.insert(eventRuns)
      .values(
        runs.slice(i, i + INSERT_CHUNK).map((run) => ({
          eventId,
          ...run,
          startAnnounced: run.startTime <= now,
          endAnnounced: run.endTime <= now,
        })),
      )
      .run();
  }
}

/**
 * Plans an event's runs after a write, inside its transaction, and returns the end of its last run (OPEN_END
 * for an open-ended rule). Runs that have started are history and stay (a live run's end follows a new end time);
 * later runs are planned again from `fields`. `ruleChanged` makes a recurring event's series be walked from its
 * first start rather than continued from its last run.
 */
export function planEventRuns(tx: Tx, eventId: string, fields: EventFields, now: number, ruleChanged: boolean): number {
  const started = tx
    .select()
    .from(eventRuns)
    .where(and(eq(eventRuns.eventId, eventId), lte(eventRuns.startTime, now)))
    .orderBy(asc(eventRuns.runNumber))
    .all();
  tx.delete(eventRuns)
    .where(and(eq(eventRuns.eventId, eventId), gt(eventRuns.startTime, now)))
    .run();
  const last = started.at(-1);
  const { recurrence } = fields;
  if (last && !last.endedEarly && last.endTime > now) {
    // The live run ends at its planned end or at the event's new end, whichever is first.
    const end = recurrence
      ? Math.min(last.startTime + recurrence.runDurationMs, fields.endTime ?? OPEN_END)
      : (fields.endTime as number);
    tx.update(eventRuns)
      .set({ endTime: end })
      .where(and(eq(eventRuns.eventId, eventId), eq(eventRuns.runNumber, last.runNumber)))
      .run();
    last.endTime = end;
  }
  let planned: PlannedRun[];
  if (!recurrence) {
    planned = last ? [] : [{ runNumber: 1, startTime: fields.startTime, endTime: fields.endTime as number }];
  } else {
    // Runs already started stay; a changed rule's runs follow the last of them and start after now.
    const after = last && (ruleChanged ? Math.max(now, last.endTime - 1) : last.startTime);
    const bounded = ruleIsBounded(recurrence.rule) || fields.endTime !== undefined;
    const wanted = withinHorizon(now, fields.startTime);
    planned = planRecurringRuns(recurrence, fields.startTime, fields.endTime, last, !ruleChanged, (start, taken) => {
      if (after !== undefined && start <= after) return "skip";
      return bounded || wanted(start, taken) ? "take" : "stop";
    });
  }
  insertRuns(tx, eventId, planned, now);
  const lastRun = planned.at(-1) ?? last;
  if (recurrence && !ruleIsBounded(recurrence.rule) && fields.endTime === undefined) return OPEN_END;
  return lastRun?.endTime ?? fields.startTime;
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

/**
 * Plans the next runs of an open-ended event whose last planned run has started, continuing its rule from that
 * run. Returns the runs planned.
 */
export function extendEventRuns(tx: Tx, row: EventRow, now: number): PlannedRun[] {
  const recurrence = recurrenceOf(row);
  if (!recurrence || row.endTime !== OPEN_END) return [];
  const last = lastPlannedRun(tx, row.id);
  if (!last || last.startTime > now) return [];
  const wanted = withinHorizon(now, row.startTime);
  const planned = planRecurringRuns(recurrence, row.startTime, undefined, last, true, (start, taken) =>
    wanted(start, taken) ? "take" : "stop",
  );
  insertRuns(tx, row.id, planned, now);
  tx.update(events)
    .set({ runsRevision: sql`${events.runsRevision} + 1` })
    .where(eq(events.id, row.id))
    .run();
  return planned;
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

/** Occurrences of an open-ended rule examined at most per ListEventRuns page beyond the planned runs. */
const UNPLANNED_BUDGET = 10_000;

/** Queries of runs. */
export function createRunQueries(db: Db) {
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
  return {
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
    runsInWindow(
      row: EventRow,
      window: { from: number; to: number },
      cursor: RunCursor | undefined,
      limit: number,
    ): { runs: ListedRun[]; resumeAt: RunCursor | undefined } {
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
      let inWindow = 0;
      const candidates = planRecurringRuns(recurrence, row.startTime, undefined, from, true, (start, taken) => {
        if (start >= window.to || inWindow >= wanted || taken >= UNPLANNED_BUDGET) return "stop";
        if (start + recurrence.runDurationMs > window.from) inWindow++;
        return "take";
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
