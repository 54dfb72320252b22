import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { type Event, EventRunSchema, type EventStatus } from "../../gen/liveops/v1/event_pb.js";
import {
  EventStatusCountSchema,
  type GetEventRequest,
  type GetEventResponse,
  GetEventResponseSchema,
  type ListEventRunsRequest,
  type ListEventRunsResponse,
  ListEventRunsResponseSchema,
  type ListEventsRequest,
  type ListEventsResponse,
  ListEventsResponseSchema,
} from "../../gen/liveops/v1/event_service_pb.js";
import type { EventTargeting } from "../audiences/audience-catalog.js";
import { type Principal, principalKey } from "../auth/access-control.js";
import type { Clock } from "../clock.js";
import { assertValid, type FieldViolation, invalidArgument, notFound, serviceError } from "../errors.js";
import { type PageTokens, pageSizeOf } from "../page-token.js";
import { type PlayerTargeting, playerVisible, targetingOf } from "../players/player-view.js";
import { immutableMessage } from "../server/encoding-memo.js";
import { timestampFromStoredMs } from "../timestamps.js";
import type { ChangeLog } from "./event-changes.js";
import { EVENT_STATUSES, type EventFilter, type EventPosition, type StatusCount } from "./event-list-store.js";
import {
  cursorToPosition,
  eventListingOf,
  type ListingFieldNames,
  orderTime,
  positionToCursor,
} from "./event-listing.js";
import { type EventRow, rowToEvent } from "./event-record.js";
import type { ListedRun, RunCursor, RunQueries } from "./event-runs.js";
import type { EventStore } from "./event-store.js";
import { checkEventId, timestampMs } from "./event-validation.js";
import { type RecurrenceExpander, RecurrenceQueueFull, RecurrenceTooCostly } from "./recurrence-expander.js";
import { checkWindow, isWindowCursor, runsOfEveryEvent, type WindowCursor } from "./window-runs.js";

/** GetEvent responses kept (about 2 KiB each with their encodings). */
const RESPONSE_CACHE_ENTRIES = 10_000;

/** What the event services need. */
export interface EventDeps {
  store: EventStore;
  runs: RunQueries;
  /** Walks recurrence rules off the event loop, each walk bounded in time. */
  expander: RecurrenceExpander;
  changeLog: ChangeLog;
  clock: Clock;
  pageTokens: PageTokens;
  /** A page ends early rather than grow past this many bytes, so that it stays under the message limit. */
  pageBudgetBytes: number;
  /** Which events target a player (the player role sees only those). */
  targeting: PlayerTargeting;
}

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

function isRunCursor(value: unknown): value is RunCursor {
  const c = value as RunCursor;
  return typeof c === "object" && c !== null && Number.isSafeInteger(c.runNumber) && Number.isSafeInteger(c.startTime);
}

/** The time window of a ListEventRuns request, from its optional bounds. */
function runWindow(req: ListEventRunsRequest): { from: number; to: number } {
  const violations: FieldViolation[] = [];
  const from = req.startTime ? timestampMs(req.startTime, "start_time", violations) : Number.NEGATIVE_INFINITY;
  const to = req.endTime ? timestampMs(req.endTime, "end_time", violations) : Number.POSITIVE_INFINITY;
  assertValid(violations);
  if (from !== undefined && to !== undefined && to <= from) {
    throw invalidArgument([
      { field: "end_time", description: "must be after start_time", reason: "END_NOT_AFTER_START" },
    ]);
  }
  return { from: from as number, to: to as number };
}

/** A listed run as the API gives it. */
const runMessage = (eventId: string, run: ListedRun) =>
  create(EventRunSchema, {
    eventId,
    runNumber: BigInt(run.runNumber),
    startTime: timestampFromStoredMs(run.startTime),
    endTime: timestampFromStoredMs(run.endTime),
    endedEarly: run.endedEarly,
  });

/** The error of a ListEventRuns page whose runs could not be computed, for the runs of `what`. */
const recurrenceFailure =
  (what: string) =>
  (err: unknown): never => {
    if (err instanceof RecurrenceTooCostly) {
      // A property of the rule and the window, not of the moment: retrying the same page does not help.
      throw serviceError(
        Code.FailedPrecondition,
        "RUNS_NOT_COMPUTED",
        `the runs of ${what} beyond those planned could not be computed (${err.message}); ask for a window nearer the planned runs`,
      );
    }
    if (err instanceof RecurrenceQueueFull) throw err.toConnectError();
    throw err;
  };

/** liveops.v1.EventService: reads events. The REST routes call the same methods. */
export function createEventService({ store, runs, clock, pageTokens, pageBudgetBytes, targeting }: EventDeps) {
  /**
   * GetEvent responses by event id. A response is a function of the stored row (its version and runs revision) and
   * of the time, through the event's state, which stays the same from `from` until `until`; it is reused — with its
   * encodings, see encoding-memo.ts — while all of that holds.
   */
  const responses = new Map<
    string,
    {
      version: number;
      runsRevision: number;
      countersRevision: number;
      from: number;
      until: number;
      response: GetEventResponse;
      playerResponse?: GetEventResponse;
    }
  >();
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

  /** ListEventRuns without an event id: the runs of every event (a player's: of every event for it) in a window. */
  async function listRunsOfEveryEvent(req: ListEventRunsRequest, ctx: HandlerContext): Promise<ListEventRunsResponse> {
    const window = runWindow(req);
    checkWindow(req, window);
    const limit = pageSizeOf(req.pageSize);
    const scope = `ListEventRuns/*/${window.from}/${window.to}`;
    const after = pageTokens.decode(scope, req.pageToken);
    if (after !== undefined && !isWindowCursor(after)) throw new Error("a signed page token holds no window cursor");
    const player = ctx.values.get(principalKey)?.playerId;
    const found = await runsOfEveryEvent({ store, runs }, window, after, limit, {
      signal: ctx.signal,
      owner: ctx.values.get(principalKey)?.keyId,
      ...(player !== undefined && { visible: await targeting.forPlayer(player, clock.now()) }),
    }).catch(recurrenceFailure("the events in this window"));
    const page = found.slice(0, limit);
    const last = page.at(-1);
    const next: WindowCursor | undefined =
      found.length > limit && last
        ? { startTime: last.startTime, eventId: last.eventId, runNumber: last.runNumber }
        : undefined;
    return create(ListEventRunsResponseSchema, {
      runs: page.map((run) => runMessage(run.eventId, run)),
      nextPageToken: next ? pageTokens.encode(scope, next) : "",
    });
  }

  const service = {
    /**
     * ListEvents as `principal`: a player gets only the events that target it, without their audiences; its page may
     * hold fewer events than asked when many were skipped (follow next_page_token). `names` are the names the caller
     * knows the request's fields by, for its errors.
     */
    async listEventsAs(
      principal: Principal | undefined,
      req: ListEventsRequest,
      names?: ListingFieldNames,
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
      const page: EventRow[] = [];
      let next: EventPosition | undefined;
      let bytes = 0;
      let cursor = after;
      let read = 0;
      for (let more = true; more; ) {
        // One extra row tells whether another page follows.
        const rows = await store.listEvents({ filter, order, now, after: cursor, limit: limit + 1 });
        const test = await targetsOf(rows);
        for (const row of rows) {
          if (!test || test(targetingOf(row))) {
            const last = page.at(-1);
            // The page's size is counted from its second row, as a page always holds one.
            if (last) bytes += encodedSizeBound(row);
            if (last && (page.length === limit || bytes > pageBudgetBytes)) {
              next = { time: orderTime(order, last), id: last.id };
              break;
            }
            page.push(row);
          }
          cursor = { time: orderTime(order, row), id: row.id };
          read++;
        }
        more = next === undefined && rows.length > limit;
        if (more && read >= PLAYER_SCAN_MAX && player !== undefined) {
          // A player's page that skipped this many events answers with what it has; the next page goes on.
          next = cursor;
          more = false;
        }
      }
      const counts = req.includeCounts ? await countsOf(filter, now, player === undefined ? undefined : targetsOf) : {};
      return create(ListEventsResponseSchema, {
        events: (await store.statesAt(page, now)).map((state, i) => {
          const event = rowToEvent(page[i] as EventRow, state);
          return player === undefined ? event : playerVisible(event);
        }),
        nextPageToken: next ? pageTokens.encode(scope, positionToCursor(order, next)) : "",
        ...counts,
      });
    },

    listEvents(req: ListEventsRequest, ctx: HandlerContext): Promise<ListEventsResponse> {
      return service.listEventsAs(ctx.values.get(principalKey), req);
    },

    /** GetEvent as `principal`: to a player, an event that does not target it is NOT_FOUND. */
    async getEventAs(principal: Principal | undefined, req: GetEventRequest): Promise<GetEventResponse> {
      assertValid(checkEventId(req.id, "id"));
      const row = await store.findEventById(req.id.toLowerCase());
      if (!row) {
        responses.delete(req.id.toLowerCase());
        throw notFound("event", req.id);
      }
      const now = clock.now();
      const player = principal?.playerId;
      if (player !== undefined && !(await targeting.targets(row, player, now))) throw notFound("event", req.id);
      let cached = responses.get(row.id);
      if (
        !(
          cached?.version === row.version &&
          cached.runsRevision === row.runsRevision &&
          cached.countersRevision === row.countersRevision &&
          cached.from <= now &&
          now < cached.until
        )
      ) {
        const state = await store.stateAt(row, now);
        const response = immutableMessage(create(GetEventResponseSchema, { event: rowToEvent(row, state) }));
        if (responses.size >= RESPONSE_CACHE_ENTRIES) responses.delete(responses.keys().next().value as string);
        cached = {
          version: row.version,
          runsRevision: row.runsRevision,
          countersRevision: row.countersRevision,
          from: now,
          until: state.validUntil,
          response,
        };
        responses.set(row.id, cached);
      }
      if (player === undefined) return cached.response;
      // Players share one response per event version too: the event without its audiences.
      cached.playerResponse ??= immutableMessage(
        create(GetEventResponseSchema, { event: playerVisible(cached.response.event as Event) }),
      );
      return cached.playerResponse;
    },

    getEvent(req: GetEventRequest, ctx: HandlerContext): Promise<GetEventResponse> {
      return service.getEventAs(ctx.values.get(principalKey), req);
    },

    async listEventRuns(req: ListEventRunsRequest, ctx: HandlerContext): Promise<ListEventRunsResponse> {
      if (req.eventId === "") return await listRunsOfEveryEvent(req, ctx);
      assertValid(checkEventId(req.eventId, "event_id"));
      const window = runWindow(req);
      const limit = pageSizeOf(req.pageSize);
      const id = req.eventId.toLowerCase();
      const scope = `ListEventRuns/${id}/${window.from}/${window.to}`;
      const after = pageTokens.decode(scope, req.pageToken);
      if (after !== undefined && !isRunCursor(after)) throw new Error("a signed page token holds no run cursor");
      const row = await store.findEventById(id);
      const player = ctx.values.get(principalKey)?.playerId;
      if (!row || (player !== undefined && !(await targeting.targets(row, player, clock.now())))) {
        throw notFound("event", req.eventId);
      }
      const found = await runs
        .runsInWindow(row, window, after, limit, {
          signal: ctx.signal,
          owner: ctx.values.get(principalKey)?.keyId,
        })
        .catch(recurrenceFailure(`event ${id}`));
      const page = found.runs.slice(0, limit);
      const last = page.at(-1);
      const next: RunCursor | undefined =
        found.runs.length > limit && last ? { runNumber: last.runNumber, startTime: last.startTime } : found.resumeAt;
      return create(ListEventRunsResponseSchema, {
        runs: page.map((run) => runMessage(id, run)),
        nextPageToken: next ? pageTokens.encode(scope, next) : "",
      });
    },
  };
  return service;
}
