import { type SQL, sql } from "drizzle-orm";
import { EventStatus } from "../../gen/liveops/v1/event_pb.js";
import type { SqlClient } from "../db/storage.js";
import { type EventRow, type EventState, eventStateAt } from "./event-record.js";
import { RUN_COLUMNS, runOf } from "./event-runs.js";

/** An order of ListEvents: by start or end time, ties broken by id in the same direction. */
export interface EventOrder {
  key: "start_time" | "end_time";
  descending: boolean;
}

/** A position in an {@link EventOrder}: the ordering time and the id of the last event read. */
export interface EventPosition {
  time: number;
  id: string;
}

/** What ListEvents filters by. An empty `statuses` is every status; an empty `titleQuery` every title. */
export interface EventFilter {
  statuses: readonly EventStatus[];
  titleQuery: string;
}

/** The four statuses an event can be in, in the order status counts are given. */
export const EVENT_STATUSES = [
  EventStatus.UPCOMING,
  EventStatus.ACTIVE,
  EventStatus.BETWEEN_RUNS,
  EventStatus.ENDED,
] as const;

const liveRun = (now: number) =>
  sql`EXISTS (SELECT 1 FROM event_runs r WHERE r.event_id = events.id AND r.end_time > ${now} AND r.start_time <= ${now})`;

function statusCondition(status: EventStatus, now: number): SQL {
  switch (status) {
    case EventStatus.UPCOMING:
      return sql`start_time > ${now}`;
    case EventStatus.ACTIVE:
      return sql`(start_time <= ${now} AND end_time > ${now} AND ${liveRun(now)})`;
    case EventStatus.BETWEEN_RUNS:
      return sql`(start_time <= ${now} AND end_time > ${now} AND NOT ${liveRun(now)})`;
    case EventStatus.ENDED:
      return sql`end_time <= ${now}`;
    default:
      throw new Error(`no condition for event status ${status}`);
  }
}

/** The status of each event at `now`, as an SQL expression (the same rules as {@link statusCondition}). */
const statusExpression = (now: number) => sql`CASE
  WHEN start_time > ${now} THEN ${sql.raw(String(EventStatus.UPCOMING))}
  WHEN end_time <= ${now} THEN ${sql.raw(String(EventStatus.ENDED))}
  WHEN ${liveRun(now)} THEN ${sql.raw(String(EventStatus.ACTIVE))}
  ELSE ${sql.raw(String(EventStatus.BETWEEN_RUNS))} END`;

/** `text` as a LIKE pattern of itself: its wildcards and the escape character match literally. */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

const ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/**
 * Titles containing `query`, ignoring the case of ASCII letters only (other letters match as they are), the same on
 * both backends: SQLite's LIKE folds ASCII case and nothing else; on PostgreSQL, whose ILIKE and lower() fold by the
 * database's locale, the title's ASCII capitals are translated and LIKE compares exactly.
 */
function titleContains(client: SqlClient, query: string): SQL {
  const pattern = `%${likeLiteral(query.replace(/[A-Z]/g, (c) => c.toLowerCase()))}%`;
  if (client.dialect === "sqlite") return sql`title LIKE ${pattern} ESCAPE '\\'`;
  return sql`translate(title, ${ASCII_UPPER}, ${ASCII_UPPER.toLowerCase()}) LIKE ${pattern} ESCAPE '\\'`;
}

function filterConditions(client: SqlClient, filter: EventFilter, now: number): SQL[] {
  const conditions: SQL[] = [];
  if (filter.statuses.length > 0) {
    conditions.push(
      sql`(${sql.join(
        filter.statuses.map((s) => statusCondition(s, now)),
        sql` OR `,
      )})`,
    );
  }
  if (filter.titleQuery !== "") conditions.push(titleContains(client, filter.titleQuery));
  return conditions;
}

const whereOf = (conditions: SQL[]) =>
  conditions.length > 0 ? sql`WHERE ${sql.join(conditions, sql` AND `)}` : sql.empty();

/** A query of ListEvents' pages. */
export interface EventPageQuery {
  filter: EventFilter;
  order: EventOrder;
  now: number;
  after: EventPosition | undefined;
  limit: number;
}

/**
 * What tells whether a kept copy of an event is current: every write of its fields makes a new version, every change
 * of its runs a new runs revision, every change of its counters a new counters revision.
 */
export type EventVersion = Pick<EventRow, "id" | "version" | "runsRevision" | "countersRevision">;

/** The ordering of a page query, as SQL: its key, its direction, and the comparison of rows after a position. */
function orderingOf(order: EventOrder) {
  return {
    key: sql.raw(order.key),
    direction: sql.raw(order.descending ? "DESC" : "ASC"),
    beyond: sql.raw(order.descending ? "<" : ">"),
  };
}

/**
 * The `columns` of up to `limit` events matching `filter` at `now` after `after` in `order`: a keyset page. An event
 * without an end time has the largest end time (see the schema), so it comes last by end time, first descending.
 */
function pageSelect(client: SqlClient, columns: SQL, query: EventPageQuery): SQL {
  const { after } = query;
  const { key, direction, beyond } = orderingOf(query.order);
  const conditions = filterConditions(client, query.filter, query.now);
  if (after) {
    conditions.push(sql`(${key} ${beyond} ${after.time} OR (${key} = ${after.time} AND id ${beyond} ${after.id}))`);
  }
  return sql`SELECT ${columns} FROM events ${whereOf(conditions)}
    ORDER BY ${key} ${direction}, id ${direction} LIMIT ${query.limit}`;
}

/** The rows (`columns`: an {@link EventRow}'s) of a page of events: one query. */
export function listEventRows(client: SqlClient, columns: SQL, query: EventPageQuery): Promise<EventRow[]> {
  return client.all<EventRow>(pageSelect(client, columns, query));
}

/**
 * The versions of the events of a page, in its order: one query, answered in one row — the page's ids and versions
 * as one text (ids are UUIDs, numbers have no space) — since each row a query returns costs more than its columns
 * (an object a row from better-sqlite3, a message a row from PostgreSQL), and a page of kept events needs nothing
 * else. SQLite (3.44 and later) and PostgreSQL both have `string_agg` with an ORDER BY.
 */
export async function listEventVersions(client: SqlClient, query: EventPageQuery): Promise<EventVersion[]> {
  const { key, direction } = orderingOf(query.order);
  const columns = sql`id, ${key}, id || ' ' || version || ' ' || runs_revision || ' ' || counters_revision AS entry`;
  const row = await client.get<{ page: string | null }>(sql`
    SELECT string_agg(p.entry, ' ' ORDER BY p.${key} ${direction}, p.id ${direction}) AS page
    FROM (${pageSelect(client, columns, query)}) AS p`);
  const words = row?.page ? row.page.split(" ") : [];
  const versions: EventVersion[] = [];
  for (let i = 0; i + 3 < words.length; i += 4) {
    versions.push({
      id: words[i] as string,
      version: Number(words[i + 1]),
      runsRevision: Number(words[i + 2]),
      countersRevision: Number(words[i + 3]),
    });
  }
  return versions;
}

/** How many events whose title contains `titleQuery` are in each status at `now`, in one query. */
export async function countEventsByStatus(
  client: SqlClient,
  query: { titleQuery: string; now: number; byTargeting: boolean },
): Promise<StatusCount[]> {
  const conditions = filterConditions(client, { statuses: [], titleQuery: query.titleQuery }, query.now);
  // Grouped by audiences too for a player's counts: events share few lists of audiences, each evaluated once.
  const targeting = query.byTargeting
    ? sql`audiences, excluded_audiences`
    : sql`CAST(NULL AS TEXT) AS audiences, CAST(NULL AS TEXT) AS excluded_audiences`;
  const rows = await client.all<{
    status: number | string;
    count: number | string;
    audiences: string | null;
    excludedAudiences: string | null;
  }>(sql`
    SELECT s.status, COUNT(*) AS count, s.audiences, s.excluded_audiences AS "excludedAudiences"
    FROM (SELECT ${statusExpression(query.now)} AS status, ${targeting} FROM events ${whereOf(conditions)}) AS s
    GROUP BY s.status, s.audiences, s.excluded_audiences`);
  return rows.map((r) => ({ ...r, status: Number(r.status) as EventStatus, count: Number(r.count) }));
}

/** A number of events in one status, with the audiences they target when counted by targeting. */
export interface StatusCount {
  status: EventStatus;
  count: number;
  audiences: string | null;
  excludedAudiences: string | null;
}

/**
 * The states of the events of a page at `at`, in two queries for the whole page (their first two runs ending after
 * `at`; the counters of those that have any) rather than two per event.
 */
export async function eventStatesAt(client: SqlClient, rows: readonly EventRow[], at: number): Promise<EventState[]> {
  if (rows.length === 0) return [];
  const ids = sql.join(
    rows.map((row) => sql`${row.id}`),
    sql`, `,
  );
  const runs = (
    await client.all<Parameters<typeof runOf>[0]>(sql`
      SELECT ${RUN_COLUMNS} FROM (
        SELECT r.*, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY end_time) AS position
        FROM event_runs r WHERE event_id IN (${ids}) AND end_time > ${at}
      ) AS ranked WHERE position <= 2 ORDER BY event_id, end_time`)
  ).map(runOf);
  const counted = rows.filter((row) => row.countersRevision > 0).map((row) => sql`${row.id}`);
  const counters =
    counted.length === 0
      ? []
      : await client.all<{ eventId: string; name: string; value: number | string }>(sql`
          SELECT event_id AS "eventId", name, value FROM event_counters
          WHERE event_id IN (${sql.join(counted, sql`, `)}) ORDER BY event_id, name`);
  const runsOf = groupBy(runs, (run) => run.eventId);
  const countersOf = groupBy(counters, (c) => c.eventId);
  return rows.map((row) => {
    const state = eventStateAt(row, runsOf.get(row.id) ?? [], at);
    if (row.countersRevision > 0) {
      state.counters = Object.fromEntries((countersOf.get(row.id) ?? []).map((c) => [c.name, BigInt(c.value)]));
    }
    return state;
  });
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(key(item));
    if (group) group.push(item);
    else groups.set(key(item), [item]);
  }
  return groups;
}
