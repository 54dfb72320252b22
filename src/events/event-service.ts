import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { EventRunSchema } from "../../gen/liveops/v1/event_pb.js";
import {
  type GetEventRequest,
  type GetEventResponse,
  type ListEventRunsRequest,
  type ListEventRunsResponse,
  ListEventRunsResponseSchema,
  type ListEventsRequest,
  type ListEventsResponse,
} from "../../gen/liveops/v1/event_service_pb.js";
import { type Principal, principalKey } from "../auth/access-control.js";
import type { Clock } from "../clock.js";
import { assertValid, type FieldViolation, invalidArgument, notFound, serviceError } from "../errors.js";
import { type PageTokens, pageSizeOf } from "../page-token.js";
import type { PlayerTargeting } from "../players/player-view.js";
import { timestampFromStoredMs } from "../timestamps.js";
import type { ChangeLog } from "./event-changes.js";
import type { ListingFieldNames } from "./event-listing.js";
import { type PageFormat, rpcFormatOf } from "./event-page-encoding.js";
import { createEventPages } from "./event-pages.js";
import type { ListedRun, RunCursor, RunQueries } from "./event-runs.js";
import type { EventStore } from "./event-store.js";
import { checkEventId, timestampMs } from "./event-validation.js";
import { createEventViews } from "./event-views.js";
import { type RecurrenceExpander, RecurrenceQueueFull, RecurrenceTooCostly } from "./recurrence-expander.js";
import { checkWindow, isWindowCursor, runsOfEveryEvent, type WindowCursor } from "./window-runs.js";

/**
 * Events kept with their views for GetEvent and ListEvents (about 6 KiB each with their row and encodings: 60 MiB
 * when every one is in use).
 */
const VIEWS_KEPT = 10_000;
/** The encoding of a page the REST route sends (an RPC's: rpcFormatOf). */
const REST_FORMATS: readonly PageFormat[] = ["json-text"];

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
  const views = createEventViews(VIEWS_KEPT);
  const pages = createEventPages({ store, clock, pageTokens, pageBudgetBytes, targeting }, views);

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
     * knows the request's fields by, for its errors. The response comes with its JSON text (the REST route's form).
     */
    listEventsAs(
      principal: Principal | undefined,
      req: ListEventsRequest,
      names?: ListingFieldNames,
    ): Promise<ListEventsResponse> {
      return pages.listEventsAs(principal, req, names, REST_FORMATS);
    },

    listEvents(req: ListEventsRequest, ctx: HandlerContext): Promise<ListEventsResponse> {
      return pages.listEventsAs(ctx.values.get(principalKey), req, undefined, rpcFormatOf(ctx));
    },

    /** GetEvent as `principal`: to a player, an event that does not target it is NOT_FOUND. */
    async getEventAs(principal: Principal | undefined, req: GetEventRequest): Promise<GetEventResponse> {
      assertValid(checkEventId(req.id, "id"));
      const row = await store.findEventById(req.id.toLowerCase());
      if (!row) {
        views.forget(req.id.toLowerCase());
        throw notFound("event", req.id);
      }
      const now = clock.now();
      const player = principal?.playerId;
      if (player !== undefined && !(await targeting.targets(row, player, now))) throw notFound("event", req.id);
      // Players share one response per event version too: the event without its audiences.
      const view = views.current(row, now) ?? views.keep(row, await store.stateAt(row, now), now);
      return view.response(player === undefined ? "everyone" : "player");
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
