// The peers' reads of the benchmark's database (read-only): the product's queries, as prepared better-sqlite3
// statements, and what the peers keep of each event (its encodings per version and state), as the product keeps its own.
import Sqlite from "better-sqlite3";
import { type EventRow, type EventState, type RunRow, stateAt } from "./event-json.js";

const EVENT_COLUMNS = `id, title, description, start_time AS "startTime", end_time AS "endTime", rewards, metadata,
  version, create_time AS "createTime", update_time AS "updateTime", recurrence_rule AS "recurrenceRule",
  run_duration_ms AS "runDurationMs", end_limit AS "endLimit", runs_revision AS "runsRevision", leaderboard,
  counters_revision AS "countersRevision", audiences, excluded_audiences AS "excludedAudiences",
  recurrence_time_zone AS "recurrenceTimeZone"`;
const VERSION_COLUMNS = `id, start_time AS "startTime", version, runs_revision AS "runsRevision",
  counters_revision AS "countersRevision"`;
const RUN_COLUMNS = `event_id AS "eventId", run_number AS "runNumber", start_time AS "startTime",
  end_time AS "endTime", ended_early AS "endedEarly"`;

/** What tells whether a kept encoding of an event is current, and where the event sorts in the listing. */
export type EventVersion = Pick<EventRow, "id" | "startTime" | "version" | "runsRevision" | "countersRevision">;

/** A position in the listing by start time: the last event of the page before. */
export interface Cursor {
  startTime: number;
  id: string;
}

const BY_START_TIME = "ORDER BY start_time ASC, id ASC LIMIT ?";
const placeholders = (count: number) => Array(count).fill("?").join(", ");

/** The peers' queries over the database file at `dbPath`. */
export function openEventReads(dbPath: string) {
  const db = new Sqlite(dbPath, { readonly: true });
  const byId = db.prepare<[string], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ?`);
  const runsEndingAfter = db.prepare<[string, number], RunRow>(
    `SELECT ${RUN_COLUMNS} FROM event_runs WHERE event_id = ? AND end_time > ? ORDER BY end_time LIMIT 2`,
  );
  const firstPage = db.prepare<[number], EventVersion>(`SELECT ${VERSION_COLUMNS} FROM events ${BY_START_TIME}`);
  const pageAfter = db.prepare<[number, number, string, number], EventVersion>(
    `SELECT ${VERSION_COLUMNS} FROM events WHERE (start_time > ? OR (start_time = ? AND id > ?)) ${BY_START_TIME}`,
  );
  // Statements over a list of ids, one per length (a page's is usually the same from call to call).
  const listStatements = new Map<string, Sqlite.Statement<unknown[], unknown>>();
  const overIds = <Row>(name: string, count: number, text: (ids: string) => string) => {
    let statement = listStatements.get(`${name}/${count}`);
    if (!statement) {
      statement = db.prepare(text(placeholders(count)));
      listStatements.set(`${name}/${count}`, statement);
    }
    return statement as Sqlite.Statement<unknown[], Row>;
  };
  return {
    /** An event by id: the product's query by primary key. */
    findEvent: (id: string): EventRow | undefined => byId.get(id),
    /** The state of one event at `at`: one query of its runs. */
    stateOf: (row: EventRow, at: number): EventState => stateAt(row, runsEndingAfter.all(row.id, at), at),
    /** The versions of up to `limit` events by start time after `after`: one query. */
    versions: (after: Cursor | undefined, limit: number): EventVersion[] =>
      after ? pageAfter.all(after.startTime, after.startTime, after.id, limit) : firstPage.all(limit),
    /** Events by id, each with its state at `at`: one query for the events, one for the first runs of them all. */
    withStates(ids: readonly string[], at: number): { row: EventRow; state: EventState }[] {
      if (ids.length === 0) return [];
      const rows = overIds<EventRow>(
        "events",
        ids.length,
        (list) => `SELECT ${EVENT_COLUMNS} FROM events
        WHERE id IN (${list})`,
      ).all(...ids);
      const runsOf = new Map<string, RunRow[]>();
      const runs = overIds<RunRow>(
        "runs",
        ids.length,
        (list) => `SELECT ${RUN_COLUMNS} FROM (
          SELECT r.*, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY end_time) AS position
          FROM event_runs r WHERE event_id IN (${list}) AND end_time > ?
        ) AS ranked WHERE position <= 2 ORDER BY event_id, end_time`,
      );
      for (const run of runs.all(...ids, at)) {
        const list = runsOf.get(run.eventId);
        if (list) list.push(run);
        else runsOf.set(run.eventId, [run]);
      }
      return rows.map((row) => ({ row, state: stateAt(row, runsOf.get(row.id) ?? [], at) }));
    },
  };
}

/** The peers' event reads. */
export type EventReads = ReturnType<typeof openEventReads>;

/** Events kept at most, as many as the product keeps. */
const EVENTS_KEPT = 10_000;

/**
 * Each event's encodings (made by `encode`), kept while its version, runs and counters revisions are the ones read
 * and the time is inside the window its state holds for — what the product keys its own on. Whether they are current
 * is read from the database on every call (the row or the page's versions), as the product does.
 */
export function createEventCache<Encoded>(encode: (row: EventRow, state: EventState) => Encoded) {
  const kept = new Map<string, { key: EventVersion; from: number; until: number; encoded: Encoded }>();
  return {
    /** The kept encodings of the event at `version`, if current at `now`. */
    current(version: EventVersion, now: number): Encoded | undefined {
      const hit = kept.get(version.id);
      if (!hit || hit.from > now || now >= hit.until) return undefined;
      const { key } = hit;
      const same =
        key.version === version.version &&
        key.runsRevision === version.runsRevision &&
        key.countersRevision === version.countersRevision;
      return same ? hit.encoded : undefined;
    },
    /** Encodes the event in `state` (its state at `now`) and keeps it. */
    keep(row: EventRow, state: EventState, now: number): Encoded {
      const encoded = encode(row, state);
      if (!kept.has(row.id) && kept.size >= EVENTS_KEPT) kept.delete(kept.keys().next().value as string);
      kept.set(row.id, { key: row, from: now, until: state.validUntil, encoded });
      return encoded;
    },
    /** Forgets an event that is no more. */
    forget(id: string): void {
      kept.delete(id);
    },
  };
}

/** The encoded GetEvent answer of event `id` now from `cache`, or undefined when there is no such event. */
export function eventAnswer<Encoded>(
  reads: EventReads,
  cache: ReturnType<typeof createEventCache<Encoded>>,
  id: string,
): Encoded | undefined {
  const row = reads.findEvent(id.toLowerCase());
  if (!row) {
    cache.forget(id.toLowerCase());
    return undefined;
  }
  const now = Date.now();
  return cache.current(row, now) ?? cache.keep(row, reads.stateOf(row, now), now);
}
