import { create } from "@bufbuild/protobuf";
import type { EventStatus } from "../../gen/liveops/v1/event_pb.js";
import {
  EventStatusCountSchema,
  type ListEventsRequest,
  type ListEventsResponse,
  ListEventsResponseSchema,
} from "../../gen/liveops/v1/event_service_pb.js";
import type { EventTargeting } from "../audiences/audience-catalog.js";
import type { Principal } from "../auth/access-control.js";
import type { Clock } from "../clock.js";
import { type PageTokens, pageSizeOf } from "../page-token.js";
import { type PlayerTargeting, targetingOf } from "../players/player-view.js";
import {
  EVENT_STATUSES,
  type EventFilter,
  type EventPageQuery,
  type EventPosition,
  type EventVersion,
  type StatusCount,
} from "./event-list-store.js";
import {
  cursorToPosition,
  eventListingOf,
  type ListingFieldNames,
  orderTime,
  positionToCursor,
} from "./event-listing.js";
import { type PageFormat, withPageEncodings } from "./event-page-encoding.js";
import type { EventRow } from "./event-record.js";
import type { EventStore } from "./event-store.js";
import type { EventView, EventViews } from "./event-views.js";

/** What ListEvents needs. */
export interface EventPagesDeps {
  store: EventStore;
  clock: Clock;
  pageTokens: PageTokens;
  /** A page ends early rather than grow past this many bytes, so that it stays under the message limit. */
  pageBudgetBytes: number;
  /** Which events target a player (the player role sees only those). */
  targeting: PlayerTargeting;
}

/** Next-page tokens kept, by scope and cursor (the token of a hot page is the same on every call). */
const TOKENS_KEPT = 1000;

/** A player's ListEvents page reads at most this many events past those it skips before it answers. */
const PLAYER_SCAN_MAX = 2000;

/**
 * An upper bound of the encoded size of an event, in JSON or binary: stored text at most doubles when escaped,
 * plus the fixed fields.
 */
function encodedSizeBound(row: EventRow): number {
  const text =
    row.title.length +
    row.description.length +
    row.rewards.length +
    (row.metadata?.length ?? 0) +
    (row.audiences?.length ?? 0) +
    (row.excludedAudiences?.length ?? 0);
  return 2 * 3 * text + 512;
}

/** An event of a page: its row (kept, or read with the page) and its version as the page's query read it. */
interface Listed {
  row: EventRow;
  version: EventVersion;
}

/** `row` with the revisions of `version` (a kept row of the same version may hold older ones). */
function withRevisions(row: EventRow, version: EventVersion): EventRow {
  return row.runsRevision === version.runsRevision && row.countersRevision === version.countersRevision
    ? row
    : { ...row, runsRevision: version.runsRevision, countersRevision: version.countersRevision };
}

/**
 * ListEvents' pages. A page of events kept in memory (`views`) at the versions the database holds costs one narrow
 * query (their ids and versions); its response is assembled from their kept encodings. Events not kept are read in
 * full (the page's query again, all columns), the states of those whose state is not kept in one query for the page.
 */
export function createEventPages(deps: EventPagesDeps, views: EventViews) {
  const { store, clock, pageTokens, pageBudgetBytes, targeting } = deps;
  const tokens = new Map<string, string>();

  /** The page token of `cursor` in `scope`: signing is the same every time (the server's key never changes). */
  function tokenOf(scope: string, cursor: object): string {
    const key = `${scope}\n${JSON.stringify(cursor)}`;
    let token = tokens.get(key);
    if (token === undefined) {
      token = pageTokens.encode(scope, cursor);
      if (tokens.size >= TOKENS_KEPT) tokens.clear();
      tokens.set(key, token);
    }
    return token;
  }

  /** The events of one query of a page: from memory when every one is kept at the version read. */
  async function readBatch(query: EventPageQuery): Promise<Listed[]> {
    const versions = await store.listEvents(query);
    const listed: Listed[] = [];
    for (const version of versions) {
      const row = views.row(version);
      if (!row) break;
      listed.push({ row, version });
    }
    if (listed.length === versions.length) return listed;
    const rows = await store.listEventRows(query);
    for (const row of rows) views.keepRow(row);
    return rows.map((row) => ({ row, version: row }));
  }

  /** The views of a page's events at `now`: the states not kept are read in one query. */
  async function viewsAt(page: readonly Listed[], now: number): Promise<EventView[]> {
    const found = page.map(({ version }) => views.current(version, now));
    const missing = page.flatMap(({ row, version }, i) => (found[i] ? [] : [withRevisions(row, version)]));
    if (missing.length === 0) return found as EventView[];
    const states = await store.statesAt(missing, now);
    let next = 0;
    return found.map((view) => {
      if (view) return view;
      const i = next++;
      return views.keep(missing[i] as EventRow, states[i] as (typeof states)[number], now);
    });
  }

  /**
   * total_size and status_counts: every status, zeros included, of the events whose title matches (a player's: those
   * that target it, through `targetsOf`), and the sum over the statuses the filter asks for.
   */
  async function countsOf(
    filter: EventFilter,
    now: number,
    targetsOf?: (rows: readonly StatusCount[]) => Promise<((event: EventTargeting) => boolean) | undefined>,
  ): Promise<Pick<ListEventsResponse, "totalSize" | "statusCounts">> {
    const rows = await store.countEvents({ titleQuery: filter.titleQuery, now, byTargeting: targetsOf !== undefined });
    const test = targetsOf && (await targetsOf(rows));
    const byStatus = new Map<EventStatus, number>(EVENT_STATUSES.map((s) => [s, 0]));
    for (const row of rows) {
      if (!test || test(targetingOf(row))) byStatus.set(row.status, (byStatus.get(row.status) ?? 0) + row.count);
    }
    const wanted = filter.statuses.length > 0 ? filter.statuses : EVENT_STATUSES;
    return {
      totalSize: wanted.reduce((sum, s) => sum + (byStatus.get(s) ?? 0), 0),
      statusCounts: EVENT_STATUSES.map((status) =>
        create(EventStatusCountSchema, { status, count: byStatus.get(status) ?? 0 }),
      ),
    };
  }

  return {
    /**
     * ListEvents as `principal`: a player gets only the events that target it, without their audiences; its page may
     * hold fewer events than asked when many were skipped (follow next_page_token). `names` are the names the caller
     * knows the request's fields by, for its errors; the response comes with its encodings in `formats`.
     */
    async listEventsAs(
      principal: Principal | undefined,
      req: ListEventsRequest,
      names: ListingFieldNames | undefined,
      formats: readonly PageFormat[],
    ): Promise<ListEventsResponse> {
      const { filter, order, scope } = eventListingOf(req, names);
      const limit = pageSizeOf(req.pageSize);
      const after = cursorToPosition(order, pageTokens.decode(scope, req.pageToken));
      const now = clock.now();
      const player = principal?.playerId;
      // The player's properties are read once a page names an audience: a listing of events for everyone needs none.
      let targets: ((event: EventTargeting) => boolean) | undefined;
      const targetsOf = async (rows: readonly Pick<EventRow, "audiences" | "excludedAudiences">[]) => {
        if (player !== undefined && !targets && rows.some((row) => row.audiences || row.excludedAudiences)) {
          targets = await targeting.forPlayer(player, now);
        }
        return targets;
      };
      const page: Listed[] = [];
      let next: EventPosition | undefined;
      let bytes = 0;
      let cursor = after;
      let read = 0;
      for (let more = true; more; ) {
        // One extra row tells whether another page follows.
        const batch = await readBatch({ filter, order, now, after: cursor, limit: limit + 1 });
        const test = await targetsOf(batch.map(({ row }) => row));
        for (const listed of batch) {
          const { row } = listed;
          if (!test || test(targetingOf(row))) {
            const last = page.at(-1)?.row;
            // The page's size is counted from its second row, as a page always holds one.
            if (last) bytes += encodedSizeBound(row);
            if (last && (page.length === limit || bytes > pageBudgetBytes)) {
              next = { time: orderTime(order, last), id: last.id };
              break;
            }
            page.push(listed);
          }
          cursor = { time: orderTime(order, row), id: row.id };
          read++;
        }
        more = next === undefined && batch.length > limit;
        if (more && read >= PLAYER_SCAN_MAX && player !== undefined) {
          // A player's page that skipped this many events answers with what it has; the next page goes on.
          next = cursor;
          more = false;
        }
      }
      const counts = req.includeCounts ? await countsOf(filter, now, player === undefined ? undefined : targetsOf) : {};
      const shown = await viewsAt(page, now);
      const reader = player === undefined ? "everyone" : "player";
      const response = create(ListEventsResponseSchema, {
        events: shown.map((view) => view.event(reader)),
        nextPageToken: next ? tokenOf(scope, positionToCursor(order, next)) : "",
        ...counts,
      });
      return withPageEncodings(
        response,
        shown.map((view) => view.pieces(reader)),
        formats,
      );
    },
  };
}
