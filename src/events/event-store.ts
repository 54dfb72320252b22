import { type SQL, sql } from "drizzle-orm";
import { EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { EventChangeType, type WatchEventsResponse } from "../../gen/liveops/v1/event_service_pb.js";
import { type AuditActor, appendAuditEntry, diffFields } from "../audit/audit-log.js";
import type { SqlClient, Storage, Transaction } from "../db/storage.js";
import { audiencesChanged, saveEventAudiences } from "./event-audiences.js";
import type { ChangeLog } from "./event-changes.js";
import {
  countEventsByStatus,
  type EventPageQuery,
  type EventVersion,
  eventStatesAt,
  listEventRows,
  listEventVersions,
  type StatusCount,
} from "./event-list-store.js";
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

/** The outcome of a write that names an existing event. */
export type EventWriteResult = { kind: "ok"; row: EventRow } | { kind: "not_found" } | { kind: "etag_mismatch" };

/** Why EndEvent cannot end an event. */
export type EndRefusal = "not_started" | "ended" | "no_live_run";

/** Called with the changes of every committed write, in order. */
export type ChangeListener = (changes: readonly WatchEventsResponse[]) => void;

/** Called inside the transaction in which a run ends (at its boundary, or early by EndEvent). */
export type RunEndHook = (tx: Transaction, row: EventRow, run: RunRow, at: number) => Promise<void>;

/** The outcome of an insert with an idempotency key. */
export type EventInsertResult =
  | { kind: "created"; row: EventRow }
  | { kind: "replayed"; row: EventRow | undefined; eventId: string }
  | { kind: "request_id_reused" };

/** The columns of an {@link EventRow}. */
export const EVENT_COLUMNS = sql.raw(`id, title, description, start_time AS "startTime", end_time AS "endTime",
  rewards, metadata, version, create_time AS "createTime", update_time AS "updateTime",
  recurrence_rule AS "recurrenceRule", run_duration_ms AS "runDurationMs", end_limit AS "endLimit",
  runs_revision AS "runsRevision", leaderboard, counters_revision AS "countersRevision", audiences,
  excluded_audiences AS "excludedAudiences", recurrence_time_zone AS "recurrenceTimeZone"`);

/** An event by its id: the hottest read (every GetEvent), so a prepared query. */
const EVENT_BY_ID = sql`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ${sql.placeholder("id")}`;

const findEvent = (client: SqlClient, id: string, lock?: SQL) =>
  lock
    ? client.get<EventRow>(sql`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ${id}${lock}`)
    : client.get<EventRow>(EVENT_BY_ID, { id });

/**
 * An event held until the transaction ends: `exclusive` by its own writes and the end of its runs, `shared` by the
 * scores and joins that must not commit into a run being finalized. A lock named after the event (fair between the
 * two modes) and, for writes, its row.
 */
async function lockedEvent(tx: Transaction, id: string, mode: "exclusive" | "shared"): Promise<EventRow | undefined> {
  await tx.lockName(`event:${id}`, mode);
  return findEvent(tx, id, mode === "exclusive" ? tx.forUpdate : undefined);
}

/**
 * The event an operator's write names, held exclusively until the write ends, unless it does not exist or has
 * changed since `etag` (when given).
 */
async function eventToChange(
  tx: Transaction,
  id: string,
  etag: string,
): Promise<EventRow | { kind: "not_found" } | { kind: "etag_mismatch" }> {
  const current = await lockedEvent(tx, id, "exclusive");
  if (!current) return { kind: "not_found" };
  if (etag !== "" && etag !== eventEtag(current.id, current.version)) return { kind: "etag_mismatch" };
  return current;
}

/** The SET list of an event's columns. */
function columnsSet(fields: EventFields, endTime: number): SQL {
  const c = fieldsToColumns(fields, endTime);
  return sql`title = ${c.title}, description = ${c.description}, start_time = ${c.startTime},
    end_time = ${c.endTime}, rewards = ${c.rewards}, metadata = ${c.metadata}, recurrence_rule = ${c.recurrenceRule},
    run_duration_ms = ${c.runDurationMs}, end_limit = ${c.endLimit}, leaderboard = ${c.leaderboard},
    audiences = ${c.audiences}, excluded_audiences = ${c.excludedAudiences},
    recurrence_time_zone = ${c.recurrenceTimeZone}`;
}

/** Writes an operator's change of an event: its fields, the end of its last run, a new version. */
async function saveChange(
  tx: Transaction,
  current: EventRow,
  next: EventFields,
  change: { endTime: number; now: number; runsChanged: boolean },
): Promise<EventRow> {
  const row = await tx.get<EventRow>(sql`
    UPDATE events SET ${columnsSet(next, change.endTime)}, version = ${current.version + 1},
      update_time = ${change.now}, runs_revision = ${current.runsRevision + (change.runsChanged ? 1 : 0)}
    WHERE id = ${current.id} RETURNING ${EVENT_COLUMNS}`);
  if (!row) throw new Error(`event ${current.id} vanished inside its transaction`);
  return row;
}

/** Whether a change of fields changes when the event's runs are (`runs`), and walks its rule anew (`rule`). */
export function scheduleChanged(before: EventFields, after: EventFields): { runs: boolean; rule: boolean } {
  const rule =
    before.startTime !== after.startTime ||
    before.recurrence?.rule !== after.recurrence?.rule ||
    before.recurrence?.runDurationMs !== after.recurrence?.runDurationMs ||
    before.recurrence?.timeZone !== after.recurrence?.timeZone;
  return { runs: rule || before.endTime !== after.endTime, rule };
}

/**
 * Queries of events. Writes are units of work (on SQLite, group-committed: one IMMEDIATE transaction and one fsync
 * for the writes queued together, each in its savepoint; on PostgreSQL, each locks the event's row), so
 * read-then-write never races; each write appends its audit entry in its own transaction.
 */
export function createEventStore(storage: Storage, runs: RunQueries, changeLog: ChangeLog) {
  const { reads } = storage;
  const listeners: ChangeListener[] = [];
  const runEndHooks: RunEndHook[] = [];

  /** Runs a write that may log changes, and tells the listeners once it has committed. */
  function write<Result>(
    body: (tx: Transaction, changes: WatchEventsResponse[]) => Promise<Result>,
    signal?: AbortSignal,
  ): Promise<Result> {
    let changes: WatchEventsResponse[] = [];
    return storage.withTransaction(
      async (tx) => {
        // A unit retried (PostgreSQL, after a serialization failure) logs its changes anew.
        changes = [];
        // Writes of events take the change log's lock first: they run one at a time on PostgreSQL (as they do on
        // SQLite), so a scheduler pass and an operator's write of the same event never deadlock, and the change log
        // commits in sequence order.
        await tx.lockChangeLog();
        return body(tx, changes);
      },
      {
        signal,
        queue: "change-log",
        committed: () => {
          if (changes.length > 0) for (const listener of listeners) listener(changes);
        },
      },
    );
  }

  /** Where an event is at `at`, with its counters (read only for an event that has had any). */
  const stateAt = async (row: EventRow, at: number, client: SqlClient = reads): Promise<EventState> => {
    const state = eventStateAt(row, await runs.runsEndingAfter(row.id, at, client), at);
    if (row.countersRevision > 0) {
      const counters = await client.all<{ name: string; value: number }>(
        sql`SELECT name, value FROM event_counters WHERE event_id = ${row.id} ORDER BY name`,
      );
      state.counters = Object.fromEntries(counters.map((c) => [c.name, BigInt(c.value)]));
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
    async runEnded(tx: Transaction, row: EventRow, run: RunRow, at: number) {
      for (const hook of runEndHooks) await hook(tx, row, run, at);
    },

    /** For the scheduler: a writing transaction whose logged changes reach the listeners. */
    write,

    /** An event by its id; inside a transaction when `client` is one. */
    findEventById(id: string, client: SqlClient = reads): Promise<EventRow | undefined> {
      return findEvent(client, id);
    },

    /**
     * An event read inside a write and held until it ends: `exclusive` (writes of the event itself, the end of a
     * run) or shared (scores and joins, which must not commit into a run being finalized: PostgreSQL makes the
     * finalizing transaction wait for them, and them for it).
     */
    lockEvent(tx: Transaction, id: string, mode: "exclusive" | "shared"): Promise<EventRow | undefined> {
      return lockedEvent(tx, id, mode);
    },

    /** Where an event is at `at`. */
    stateAt,

    /**
     * The ids and versions of up to `limit` events matching `filter` at `now` after `after` in `order`, in that order
     * (one query): ListEvents' page, whose events are served from memory when kept at those versions (event-views.ts).
     */
    listEvents(query: EventPageQuery): Promise<EventVersion[]> {
      return listEventVersions(reads, query);
    },

    /** The rows of the events of the same page as {@link listEvents} (one query): those not kept. */
    listEventRows(query: EventPageQuery): Promise<EventRow[]> {
      return listEventRows(reads, EVENT_COLUMNS, query);
    },

    /** How many events whose title contains `titleQuery` are in each status at `now` (one query). */
    countEvents(query: { titleQuery: string; now: number; byTargeting: boolean }): Promise<StatusCount[]> {
      return countEventsByStatus(reads, query);
    },

    /** Where the events of a page are at `at`, read for the whole page at once. */
    statesAt(rows: readonly EventRow[], at: number): Promise<EventState[]> {
      return eventStatesAt(reads, rows, at);
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
      return write(async (tx, changes) => {
        if (request) {
          // On PostgreSQL a concurrent insert of the same request id waits here until the first one commits.
          const claimed = await tx.run(sql`
            INSERT INTO create_requests (request_id, fingerprint, event_id, create_time)
            VALUES (${request.requestId}, ${request.fingerprint}, ${id}, ${now})
            ON CONFLICT (request_id) DO NOTHING`);
          if (claimed === 0) {
            const previous = await tx.get<{ fingerprint: string; eventId: string }>(sql`
              SELECT fingerprint, event_id AS "eventId" FROM create_requests WHERE request_id = ${request.requestId}`);
            if (!previous) throw new Error("a create request vanished inside its transaction");
            if (previous.fingerprint !== request.fingerprint) return { kind: "request_id_reused" };
            const row = await findEvent(tx, previous.eventId);
            return { kind: "replayed", row, eventId: previous.eventId };
          }
        }
        // Inserted with a provisional end, then given the end of its last run once the runs are planned.
        const c = fieldsToColumns(fields, fields.startTime);
        await tx.run(sql`
          INSERT INTO events (id, title, description, start_time, end_time, rewards, metadata, version, create_time,
            update_time, recurrence_rule, run_duration_ms, end_limit, leaderboard, audiences, excluded_audiences,
            recurrence_time_zone)
          VALUES (${id}, ${c.title}, ${c.description}, ${c.startTime}, ${c.endTime}, ${c.rewards}, ${c.metadata}, 1,
            ${now}, ${now}, ${c.recurrenceRule}, ${c.runDurationMs}, ${c.endLimit}, ${c.leaderboard}, ${c.audiences},
            ${c.excludedAudiences}, ${c.recurrenceTimeZone})`);
        await saveEventAudiences(tx, id, fields);
        const endTime = await applyRunPlan(tx, runs, id, fields, now, plan);
        const row = await tx.get<EventRow>(
          sql`UPDATE events SET end_time = ${endTime} WHERE id = ${id} RETURNING ${EVENT_COLUMNS}`,
        );
        if (!row) throw new Error(`event ${id} vanished inside its transaction`);
        await appendAuditEntry(tx, actor, now, { type: "event", id }, diffFields(undefined, fieldsToAuditJson(fields)));
        changes.push(await changeLog.append(tx, EventChangeType.CREATED, row, now));
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
      return write(async (tx, changes) => {
        const current = await eventToChange(tx, id, etag);
        if ("kind" in current) return current;
        if (current.version !== basis.version || current.runsRevision !== basis.runsRevision) return { kind: "stale" };
        // The scheduler may have announced a boundary after `now` meanwhile (announcing changes neither): the plan
        // would replace or move a run the watchers have seen start or end.
        if (change.plan && (await runs.announcedAfter(id, now, tx))) return { kind: "stale" };
        const before = rowToFields(current);
        const { next, plan } = change;
        const schedule = scheduleChanged(before, next);
        if (schedule.runs && !plan) throw new Error("a change of schedule comes with its plan of runs");
        // Unchanged lists need no check: the foreign keys of their rows keep their audiences from being deleted.
        if (audiencesChanged(before, next)) await saveEventAudiences(tx, id, next);
        const endTime = schedule.runs && plan ? await applyRunPlan(tx, runs, id, next, now, plan) : current.endTime;
        const row = await saveChange(tx, current, next, { endTime, now, runsChanged: schedule.runs });
        await appendAuditEntry(
          tx,
          actor,
          now,
          { type: "event", id },
          diffFields(fieldsToAuditJson(before), fieldsToAuditJson(next)),
        );
        changes.push(await changeLog.append(tx, EventChangeType.UPDATED, row, now));
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
      return write(async (tx, changes) => {
        // Read in the transaction: a boundary announced since the call came cannot be dropped unannounced.
        const now = clock();
        const current = await eventToChange(tx, id, etag);
        if ("kind" in current) return current;
        const state = await stateAt(current, now, tx);
        if (state.status === EventStatus.UPCOMING) return { kind: "refused", why: "not_started" };
        if (state.status === EventStatus.ENDED) return { kind: "refused", why: "ended" };
        const live = state.currentRun;
        if (runOnly && !live) return { kind: "refused", why: "no_live_run" };
        const ended = live && (await endRunNow(tx, live, now));
        const before = rowToFields(current);
        const next = runOnly ? before : { ...before, endTime: now };
        const endTime = runOnly ? await lastRunEnd(tx, id, current.endTime, now) : await dropRunsAfter(tx, id, now);
        const row = await saveChange(tx, current, next, { endTime, now, runsChanged: true });
        const audit = diffFields(fieldsToAuditJson(before), fieldsToAuditJson(next));
        if (live) {
          const times = { before: new Date(live.endTime).toISOString(), after: new Date(now).toISOString() };
          audit[`run_${live.runNumber}_end_time`] = times;
        }
        await appendAuditEntry(tx, actor, now, { type: "event", id }, audit);
        if (ended) for (const hook of runEndHooks) await hook(tx, row, ended, now);
        changes.push(
          await changeLog.append(tx, ended ? EventChangeType.ENDED : EventChangeType.UPDATED, row, now, ended),
        );
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
      return write(async (tx, changes) => {
        const now = clock();
        const current = await eventToChange(tx, id, etag);
        if ("kind" in current) return current;
        // Logged before the delete, while the event's runs still say where it was.
        changes.push(await changeLog.append(tx, EventChangeType.DELETED, current, now));
        await tx.run(sql`DELETE FROM events WHERE id = ${id}`);
        await appendAuditEntry(
          tx,
          actor,
          now,
          { type: "event", id },
          diffFields(fieldsToAuditJson(rowToFields(current)), undefined),
        );
        return { kind: "ok", row: current };
      }, signal);
    },

    /** Up to `limit` events with a run that may overlap [from, to), in (start time, id) order: a calendar's events. */
    eventsOverlapping(from: number, to: number, limit: number): Promise<EventRow[]> {
      return reads.all<EventRow>(
        sql`SELECT ${EVENT_COLUMNS} FROM events WHERE start_time < ${to} AND end_time > ${from}
          ORDER BY start_time, id LIMIT ${limit}`,
      );
    },

    /** Every event that has not ended at `now`, in (start time, id) order: the current state for watchers. */
    eventsNotEnded(now: number): Promise<EventRow[]> {
      return reads.all<EventRow>(
        sql`SELECT ${EVENT_COLUMNS} FROM events WHERE end_time > ${now} ORDER BY start_time, id`,
      );
    },
  };
}

/** The event queries the services use. */
export type EventStore = ReturnType<typeof createEventStore>;
