import { and, asc, eq, gt, lte, or, type SQL, sql } from "drizzle-orm";
import { EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { EventChangeType, type WatchEventsResponse } from "../../gen/liveops/v1/event_service_pb.js";
import { type AuditActor, appendAuditEntry, diffFields } from "../audit/audit-log.js";
import type { Db, Tx } from "../db/database.js";
import { createRequests, eventRuns, events } from "../db/schema.js";
import type { WriteBatcher } from "../db/write-batcher.js";
import type { ChangeLog } from "./event-changes.js";
import {
  type EventFields,
  type EventRow,
  type EventState,
  eventEtag,
  eventStateAt,
  fieldsToAuditJson,
  fieldsToColumns,
  type RunRow,
  rowToFields,
} from "./event-record.js";
import { applyRunPlan, dropRunsAfter, endRunNow, lastRunEnd, type RunPlan, type RunQueries } from "./event-runs.js";

/** A position in the (start time, id) order of events. */
export interface EventCursor {
  startTime: number;
  id: string;
}

/** The outcome of a write that names an existing event. */
export type EventWriteResult = { kind: "ok"; row: EventRow } | { kind: "not_found" } | { kind: "etag_mismatch" };

/** Why EndEvent cannot end an event. */
export type EndRefusal = "not_started" | "ended" | "no_live_run";

/** Called with the changes of every committed write, in order. */
export type ChangeListener = (changes: readonly WatchEventsResponse[]) => void;

/** Called inside the transaction in which a run ends (at its boundary, or early by EndEvent). */
export type RunEndHook = (tx: Tx, row: EventRow, run: RunRow, at: number) => void;

/** The outcome of an insert with an idempotency key. */
export type EventInsertResult =
  | { kind: "created"; row: EventRow }
  | { kind: "replayed"; row: EventRow | undefined; eventId: string }
  | { kind: "request_id_reused" };

function statusCondition(status: EventStatus, now: number): SQL | undefined {
  const liveRun = sql`EXISTS (SELECT 1 FROM ${eventRuns} WHERE ${eventRuns.eventId} = ${events.id} AND ${eventRuns.endTime} > ${now} AND ${eventRuns.startTime} <= ${now})`;
  switch (status) {
    case EventStatus.UPCOMING:
      return gt(events.startTime, now);
    case EventStatus.ACTIVE:
      return and(lte(events.startTime, now), gt(events.endTime, now), liveRun);
    case EventStatus.BETWEEN_RUNS:
      return and(lte(events.startTime, now), gt(events.endTime, now), sql`NOT ${liveRun}`);
    case EventStatus.ENDED:
      return lte(events.endTime, now);
    default:
      return undefined;
  }
}

/** The event an operator's write names, unless it does not exist or has changed since `etag` (when given). */
function eventToChange(tx: Tx, id: string, etag: string): EventRow | { kind: "not_found" } | { kind: "etag_mismatch" } {
  const current = tx.select().from(events).where(eq(events.id, id)).get();
  if (!current) return { kind: "not_found" };
  if (etag !== "" && etag !== eventEtag(current.id, current.version)) return { kind: "etag_mismatch" };
  return current;
}

/** Writes an operator's change of an event: its fields, the end of its last run, a new version. */
function saveChange(
  tx: Tx,
  current: EventRow,
  next: EventFields,
  change: { endTime: number; now: number; runsChanged: boolean },
): EventRow {
  return tx
    .update(events)
    .set({
      ...fieldsToColumns(next, change.endTime),
      version: current.version + 1,
      updateTime: change.now,
      runsRevision: current.runsRevision + (change.runsChanged ? 1 : 0),
    })
    .where(eq(events.id, current.id))
    .returning()
    .get() as EventRow;
}

/** Whether a change of fields changes when the event's runs are (`runs`), and walks its rule anew (`rule`). */
export function scheduleChanged(before: EventFields, after: EventFields): { runs: boolean; rule: boolean } {
  const rule =
    before.startTime !== after.startTime ||
    before.recurrence?.rule !== after.recurrence?.rule ||
    before.recurrence?.runDurationMs !== after.recurrence?.runDurationMs;
  return { runs: rule || before.endTime !== after.endTime, rule };
}

/**
 * Drizzle queries of events. Writes go through the group-commit batcher (one IMMEDIATE transaction and one fsync
 * for the writes queued together, each in its savepoint), so read-then-write never races, a burst of writes costs
 * few commits and reads are served between batches; each write appends its audit entry in its own savepoint.
 */
export function createEventStore(db: Db, runs: RunQueries, changeLog: ChangeLog, batcher: WriteBatcher) {
  // The hottest read (GetEvent, GET /events/{id}): prepared once rather than built and prepared per call.
  const byId = db
    .select()
    .from(events)
    .where(eq(events.id, sql.placeholder("id")))
    .prepare();
  const listeners: ChangeListener[] = [];
  const runEndHooks: RunEndHook[] = [];

  /** Runs a write that may log changes in the next batch, and tells the listeners once it has committed. */
  function write<Result>(
    body: (tx: Tx, changes: WatchEventsResponse[]) => Result,
    signal?: AbortSignal,
  ): Promise<Result> {
    const changes: WatchEventsResponse[] = [];
    return batcher.run(
      (tx) => body(tx, changes),
      () => {
        if (changes.length > 0) for (const listener of listeners) listener(changes);
      },
      signal,
    );
  }

  const countersOf = db.$client.prepare<[string], { name: string; value: number }>(
    "SELECT name, value FROM event_counters WHERE event_id = ? ORDER BY name",
  );
  /** Where an event is at `at`, with its counters (read only for an event that has had any). */
  const stateAt = (row: EventRow, at: number): EventState => {
    const state = eventStateAt(row, runs.runsEndingAfter(row.id, at), at);
    if (row.countersRevision > 0) {
      state.counters = Object.fromEntries(countersOf.all(row.id).map((c) => [c.name, BigInt(c.value)]));
    }
    return state;
  };

  return {
    /** Calls `listener` after every committed write with its changes. */
    onChanges(listener: ChangeListener) {
      listeners.push(listener);
    },

    /** Calls `hook` inside the transaction of every run's end: where competitions are finalized. */
    onRunEnded(hook: RunEndHook) {
      runEndHooks.push(hook);
    },

    /** For the scheduler: a run ended at `at`, inside `tx`. */
    runEnded(tx: Tx, row: EventRow, run: RunRow, at: number) {
      for (const hook of runEndHooks) hook(tx, row, run, at);
    },

    /** For the scheduler: a writing transaction whose logged changes reach the listeners. */
    write,

    findEventById(id: string): EventRow | undefined {
      return byId.get({ id });
    },

    /** Where an event is at `at`. */
    stateAt,

    /** Up to `limit` events after `after` in (start time, id) order, optionally with one status at `now`. */
    listEvents(query: { status: EventStatus; now: number; after: EventCursor | undefined; limit: number }): EventRow[] {
      const { after } = query;
      const afterCursor = after
        ? or(gt(events.startTime, after.startTime), and(eq(events.startTime, after.startTime), gt(events.id, after.id)))
        : undefined;
      return db
        .select()
        .from(events)
        .where(and(statusCondition(query.status, query.now), afterCursor))
        .orderBy(asc(events.startTime), asc(events.id))
        .limit(query.limit)
        .all();
    },

    /**
     * Inserts an event. With a request id, a retry of the same request returns the first event instead, and the
     * same request id with another fingerprint is refused.
     */
    insertEvent(
      id: string,
      fields: EventFields,
      now: number,
      actor: AuditActor,
      request: { requestId: string; fingerprint: string } | undefined,
      plan: RunPlan,
      signal?: AbortSignal,
    ): Promise<EventInsertResult> {
      return write((tx, changes) => {
        if (request) {
          const previous = tx
            .select()
            .from(createRequests)
            .where(eq(createRequests.requestId, request.requestId))
            .get();
          if (previous) {
            if (previous.fingerprint !== request.fingerprint) return { kind: "request_id_reused" };
            const row = tx.select().from(events).where(eq(events.id, previous.eventId)).get();
            return { kind: "replayed", row, eventId: previous.eventId };
          }
          tx.insert(createRequests)
            .values({ requestId: request.requestId, fingerprint: request.fingerprint, eventId: id, createTime: now })
            .run();
        }
        // Inserted with a provisional end, then given the end of its last run once the runs are planned.
        tx.insert(events)
          .values({ id, ...fieldsToColumns(fields, fields.startTime), version: 1, createTime: now, updateTime: now })
          .run();
        const endTime = applyRunPlan(tx, runs, id, fields, now, plan);
        const row = tx.update(events).set({ endTime }).where(eq(events.id, id)).returning().get() as EventRow;
        appendAuditEntry(tx, actor, now, { type: "event", id }, diffFields(undefined, fieldsToAuditJson(fields)));
        changes.push(changeLog.append(tx, EventChangeType.CREATED, row, now));
        return { kind: "created", row };
      }, signal);
    },

    /**
     * Replaces the fields of event `basis` with `next` when `etag` is empty or matches, storing `plan` as its runs
     * when its schedule changed. `stale` when the event or its runs changed since `basis` was read (the plan and
     * the checks of `next` were made from it): the caller reads it again and retries.
     */
    updateEvent(
      basis: EventRow,
      etag: string,
      now: number,
      actor: AuditActor,
      change: { next: EventFields; plan: RunPlan | undefined },
      signal?: AbortSignal,
    ): Promise<EventWriteResult | { kind: "stale" }> {
      const { id } = basis;
      return write((tx, changes) => {
        const current = eventToChange(tx, id, etag);
        if ("kind" in current) return current;
        if (current.version !== basis.version || current.runsRevision !== basis.runsRevision) return { kind: "stale" };
        // The scheduler may have announced a boundary after `now` meanwhile (announcing changes neither): the plan
        // would replace or move a run the watchers have seen start or end.
        if (change.plan && runs.announcedAfter(id, now)) return { kind: "stale" };
        const before = rowToFields(current);
        const { next, plan } = change;
        const schedule = scheduleChanged(before, next);
        if (schedule.runs && !plan) throw new Error("a change of schedule comes with its plan of runs");
        const endTime = schedule.runs && plan ? applyRunPlan(tx, runs, id, next, now, plan) : current.endTime;
        const row = saveChange(tx, current, next, { endTime, now, runsChanged: schedule.runs });
        appendAuditEntry(
          tx,
          actor,
          now,
          { type: "event", id },
          diffFields(fieldsToAuditJson(before), fieldsToAuditJson(next)),
        );
        changes.push(changeLog.append(tx, EventChangeType.UPDATED, row, now));
        return { kind: "ok", row };
      }, signal);
    },

    /**
     * Ends a started event now (`runOnly`: only its live run) when `etag` is empty or matches. A live run ends now,
     * marked as ended early; without `runOnly`, later runs are dropped and the event ends with its last run.
     */
    endEvent(
      id: string,
      etag: string,
      clock: () => number,
      actor: AuditActor,
      runOnly: boolean,
      signal?: AbortSignal,
    ): Promise<
      EventWriteResult | { kind: "ended"; row: EventRow; now: number } | { kind: "refused"; why: EndRefusal }
    > {
      return write((tx, changes) => {
        // Read in the transaction: a boundary announced since the call came cannot be dropped unannounced.
        const now = clock();
        const current = eventToChange(tx, id, etag);
        if ("kind" in current) return current;
        const state = stateAt(current, now);
        if (state.status === EventStatus.UPCOMING) return { kind: "refused", why: "not_started" };
        if (state.status === EventStatus.ENDED) return { kind: "refused", why: "ended" };
        const live = state.currentRun;
        if (runOnly && !live) return { kind: "refused", why: "no_live_run" };
        const ended = live && endRunNow(tx, live, now);
        const before = rowToFields(current);
        const next = runOnly ? before : { ...before, endTime: now };
        const endTime = runOnly ? lastRunEnd(tx, id, current.endTime, now) : dropRunsAfter(tx, id, now);
        const row = saveChange(tx, current, next, { endTime, now, runsChanged: true });
        const audit = diffFields(fieldsToAuditJson(before), fieldsToAuditJson(next));
        if (live) {
          const times = { before: new Date(live.endTime).toISOString(), after: new Date(now).toISOString() };
          audit[`run_${live.runNumber}_end_time`] = times;
        }
        appendAuditEntry(tx, actor, now, { type: "event", id }, audit);
        if (ended) for (const hook of runEndHooks) hook(tx, row, ended, now);
        changes.push(changeLog.append(tx, ended ? EventChangeType.ENDED : EventChangeType.UPDATED, row, now, ended));
        return { kind: "ended", row, now };
      }, signal);
    },

    /** Deletes an event when `etag` is empty or matches. */
    deleteEvent(
      id: string,
      etag: string,
      clock: () => number,
      actor: AuditActor,
      signal?: AbortSignal,
    ): Promise<EventWriteResult> {
      return write((tx, changes) => {
        const now = clock();
        const current = eventToChange(tx, id, etag);
        if ("kind" in current) return current;
        // Logged before the delete, while the event's runs still say where it was.
        changes.push(changeLog.append(tx, EventChangeType.DELETED, current, now));
        tx.delete(events).where(eq(events.id, id)).run();
        appendAuditEntry(
          tx,
          actor,
          now,
          { type: "event", id },
          diffFields(fieldsToAuditJson(rowToFields(current)), undefined),
        );
        return { kind: "ok", row: current };
      }, signal);
    },

    /** Every event that has not ended at `now`, in (start time, id) order: the current state for watchers. */
    eventsNotEnded(now: number): EventRow[] {
      return db
        .select()
        .from(events)
        .where(gt(events.endTime, now))
        .orderBy(asc(events.startTime), asc(events.id))
        .all();
    },
  };
}

/** The event queries the services use. */
export type EventStore = ReturnType<typeof createEventStore>;
