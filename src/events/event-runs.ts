import { type SQL, sql } from "drizzle-orm";
import { flag, type SqlClient, type Transaction } from "../db/storage.js";
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
  const last = eventId === undefined ? undefined : await runs.lastStartedRun(eventId, now);
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
export async function applyRunPlan(
  tx: Transaction,
  runs: RunQueries,
  eventId: string,
  fields: EventFields,
  now: number,
  plan: RunPlan,
): Promise<number> {
  const last = await runs.lastStartedRun(eventId, now, tx);
  await tx.run(sql`DELETE FROM event_runs WHERE event_id = ${eventId} AND start_time > ${now}`);
  if (last && isLive(last, now)) {
    last.endTime = liveRunEnd(last, fields);
    await tx.run(
      sql`UPDATE event_runs SET end_time = ${last.endTime} WHERE event_id = ${eventId} AND run_number = ${last.runNumber}`,
    );
  }
  await runs.insertRuns(tx, eventId, plan.runs, now);
  const { recurrence } = fields;
  if (recurrence && !ruleIsBounded(recurrence.rule) && fields.endTime === undefined) return OPEN_END;
  return (plan.runs.at(-1) ?? last)?.endTime ?? fields.startTime;
}

/** Ends a live run now, as ended early (its ENDED change is logged by the caller, so it counts as announced). */
export async function endRunNow(tx: Transaction, run: RunRow, now: number): Promise<RunRow> {
  const ended = await tx.get<RunColumns>(sql`
    UPDATE event_runs SET end_time = ${now}, ended_early = ${true}, end_announced = ${true}
    WHERE event_id = ${run.eventId} AND run_number = ${run.runNumber} RETURNING ${RUN_COLUMNS}`);
  if (!ended) throw new Error(`run ${run.runNumber} of event ${run.eventId} vanished inside its transaction`);
  return runOf(ended);
}

/** Drops the runs of an event that start after `now` and returns the end of its last remaining run. */
export async function dropRunsAfter(tx: Transaction, eventId: string, now: number): Promise<number> {
  await tx.run(sql`DELETE FROM event_runs WHERE event_id = ${eventId} AND start_time > ${now}`);
  return lastRunEnd(tx, eventId, OPEN_END, now);
}

/**
 * The event's end after one of its runs ended early: `eventEnd` while runs follow `now`, else the end of the run
 * that ended last.
 */
export async function lastRunEnd(tx: Transaction, eventId: string, eventEnd: number, now: number): Promise<number> {
  const following = await tx.get(
    sql`SELECT 1 AS one FROM event_runs WHERE event_id = ${eventId} AND start_time > ${now} LIMIT 1`,
  );
  if (following) return eventEnd;
  const last = await tx.get<{ end: number | null }>(
    sql`SELECT max(end_time) AS "end" FROM event_runs WHERE event_id = ${eventId}`,
  );
  return last?.end ?? now;
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
  const last = await runs.lastPlannedRun(row.id);
  if (!last || last.startTime > now) return undefined;
  const planned = await expander.planRuns(continuation(row, recurrence, last, { kind: "extend", now }));
  return { eventId: row.id, version: row.version, runsRevision: row.runsRevision, runs: planned };
}

/**
 * Stores an extension, unless the event changed since it was computed (an EndEvent or an update ends or replans
 * its runs). Returns whether it was stored.
 */
export async function storeExtension(
  tx: Transaction,
  runs: RunQueries,
  extension: RunExtension,
  now: number,
): Promise<boolean> {
  const row = await tx.get<{ version: number; runsRevision: number; endTime: number }>(sql`
    SELECT version, runs_revision AS "runsRevision", end_time AS "endTime" FROM events
    WHERE id = ${extension.eventId}${tx.forUpdate}`);
  if (row?.version !== extension.version || row.runsRevision !== extension.runsRevision) return false;
  if (row.endTime !== OPEN_END) return false;
  await runs.insertRuns(tx, extension.eventId, extension.runs, now);
  await tx.run(sql`UPDATE events SET runs_revision = runs_revision + 1 WHERE id = ${extension.eventId}`);
  return true;
}

/** A run as either database returns it: booleans as 0/1 (SQLite) or booleans (PostgreSQL). */
type RunColumns = { [K in keyof RunRow]: RunRow[K] extends boolean ? unknown : RunRow[K] };

/** The columns of a {@link RunRow}. */
export const RUN_COLUMNS = sql.raw(`event_id AS "eventId", run_number AS "runNumber", start_time AS "startTime",
  end_time AS "endTime", ended_early AS "endedEarly", start_announced AS "startAnnounced",
  end_announced AS "endAnnounced", finalized, participants`);

/** A run from its columns. */
export function runOf(c: RunColumns): RunRow {
  return {
    ...c,
    endedEarly: flag(c.endedEarly),
    startAnnounced: flag(c.startAnnounced),
    endAnnounced: flag(c.endAnnounced),
    finalized: flag(c.finalized),
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
export function createRunQueries(reads: SqlClient, expander: RecurrenceExpander) {
  const runs = async (query: SQL, client: SqlClient) => (await client.all<RunColumns>(query)).map(runOf);
  const run = async (query: SQL, client: SqlClient) => {
    const c = await client.get<RunColumns>(query);
    return c && runOf(c);
  };
  const lastPlannedRun = (eventId: string, client: SqlClient = reads) =>
    run(
      sql`SELECT ${RUN_COLUMNS} FROM event_runs WHERE event_id = ${eventId} ORDER BY run_number DESC LIMIT 1`,
      client,
    );
  return {
    /**
     * Inserts planned runs inside the caller's transaction; boundaries at or before `now` count as announced (they
     * happened with this write).
     */
    async insertRuns(tx: Transaction, eventId: string, planned: readonly PlannedRun[], now: number) {
      // A plan may hold thousands of runs: inserted in chunks (SQLite binds at most 32,766 parameters a statement).
      for (let i = 0; i < planned.length; i += 500) {
        const rows = planned
          .slice(i, i + 500)
          .map(
            ({ runNumber, startTime, endTime }) =>
              sql`(${eventId}, ${runNumber}, ${startTime}, ${endTime}, ${startTime <= now}, ${endTime <= now})`,
          );
        await tx.run(sql`
          INSERT INTO event_runs (event_id, run_number, start_time, end_time, start_announced, end_announced)
          VALUES ${sql.join(rows, sql`, `)}`);
      }
    },

    /** Whether a boundary of an event's runs later than `at` has been announced (the scheduler ran past `at`). */
    async announcedAfter(eventId: string, at: number, client: SqlClient = reads): Promise<boolean> {
      const found = await client.get(sql`
        SELECT 1 AS one FROM event_runs WHERE event_id = ${eventId}
          AND ((start_time > ${at} AND start_announced = ${true}) OR (end_time > ${at} AND end_announced = ${true}))
        LIMIT 1`);
      return found !== undefined;
    },

    /** The last run of an event that is stored: the end of what is planned. */
    lastPlannedRun,

    /** One run of an event by its number. */
    runByNumber(eventId: string, runNumber: number, client: SqlClient = reads): Promise<RunRow | undefined> {
      return run(
        sql`SELECT ${RUN_COLUMNS} FROM event_runs WHERE event_id = ${eventId} AND run_number = ${runNumber}`,
        client,
      );
    },

    /** The last run of an event that started at or before `at`. */
    lastStartedRun(eventId: string, at: number, client: SqlClient = reads): Promise<RunRow | undefined> {
      return run(
        sql`SELECT ${RUN_COLUMNS} FROM event_runs WHERE event_id = ${eventId} AND start_time <= ${at}
          ORDER BY run_number DESC LIMIT 1`,
        client,
      );
    },

    /** The (at most two) first runs of an event that end after `at`: the live one, if any, and the next. */
    runsEndingAfter(eventId: string, at: number, client: SqlClient = reads): Promise<RunRow[]> {
      return runs(
        sql`SELECT ${RUN_COLUMNS} FROM event_runs WHERE event_id = ${eventId} AND end_time > ${at}
          ORDER BY end_time LIMIT 2`,
        client,
      );
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
      const stored: ListedRun[] = await runs(
        sql`SELECT ${RUN_COLUMNS} FROM event_runs WHERE event_id = ${row.id}
          AND run_number > ${cursor?.runNumber ?? 0} AND end_time > ${boundOf(window.from)}
          AND start_time < ${boundOf(window.to)}
          ORDER BY run_number LIMIT ${limit + 1}`,
        reads,
      );
      const recurrence = recurrenceOf(row);
      if (stored.length > limit || !recurrence || row.endTime !== OPEN_END) {
        return { runs: stored, resumeAt: undefined };
      }
      const lastPlanned = await lastPlannedRun(row.id);
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

/** A window's bound as a storable integer: an open side (±Infinity) becomes the widest one either database holds. */
function boundOf(ms: number): number {
  if (ms === Number.NEGATIVE_INFINITY) return Number.MIN_SAFE_INTEGER;
  if (ms === Number.POSITIVE_INFINITY) return Number.MAX_SAFE_INTEGER;
  return ms;
}

/** The run queries the services use. */
export type RunQueries = ReturnType<typeof createRunQueries>;
