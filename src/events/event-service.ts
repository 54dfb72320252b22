import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { EventRunSchema, EventStatus } from "../../gen/liveops/v1/event_pb.js";
import {
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
import { principalKey } from "../auth/access-control.js";
import type { Clock } from "../clock.js";
import { assertValid, type FieldViolation, invalidArgument, notFound, serviceError } from "../errors.js";
import { type PageTokens, pageSizeOf, takePage } from "../page-token.js";
import { immutableMessage } from "../server/encoding-memo.js";
import { timestampFromStoredMs } from "../timestamps.js";
import type { ChangeLog } from "./event-changes.js";
import { type EventRow, rowToEvent } from "./event-record.js";
import type { RunCursor, RunQueries } from "./event-runs.js";
import type { EventCursor, EventStore } from "./event-store.js";
import { checkEventId, timestampMs } from "./event-validation.js";
import { type RecurrenceExpander, RecurrenceQueueFull, RecurrenceTooCostly } from "./recurrence-expander.js";

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
}

/**
 * An upper bound of the encoded size of an event, in JSON or binary: stored text at most doubles when escaped,
 * plus the fixed fields.
 */
function encodedSizeBound(row: EventRow): number {
  const text = row.title.length + row.description.length + row.rewards.length + (row.metadata?.length ?? 0);
  return 2 * 3 * text + 512;
}

function isCursor(value: unknown): value is EventCursor {
  const c = value as EventCursor;
  return typeof c === "object" && c !== null && Number.isSafeInteger(c.startTime) && typeof c.id === "string";
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

/** liveops.v1.EventService: reads events. The REST routes call the same methods. */
export function createEventService({ store, runs, clock, pageTokens, pageBudgetBytes }: EventDeps) {
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
    }
  >();
  return {
    async listEvents(req: ListEventsRequest): Promise<ListEventsResponse> {
      if (!(req.status in EventStatus)) {
        throw invalidArgument([
          { field: "status", description: `unknown status ${req.status}`, reason: "UNKNOWN_ENUM" },
        ]);
      }
      const limit = pageSizeOf(req.pageSize);
      const scope = `ListEvents/${req.status}`;
      const after = pageTokens.decode(scope, req.pageToken);
      if (after !== undefined && !isCursor(after)) throw new Error("a signed page token holds no cursor");
      const now = clock.now();
      // One extra row tells whether another page follows.
      const rows = await store.listEvents({ status: req.status, now, after, limit: limit + 1 });
      let bytes = 0;
      const { page, last } = takePage(rows, limit, (row) => {
        bytes += encodedSizeBound(row);
        return bytes <= pageBudgetBytes;
      });
      const next: EventCursor | undefined = last && { startTime: last.startTime, id: last.id };
      return create(ListEventsResponseSchema, {
        events: await Promise.all(page.map(async (row) => rowToEvent(row, await store.stateAt(row, now)))),
        nextPageToken: next ? pageTokens.encode(scope, next) : "",
      });
    },

    async getEvent(req: GetEventRequest): Promise<GetEventResponse> {
      assertValid(checkEventId(req.id, "id"));
      const row = await store.findEventById(req.id.toLowerCase());
      if (!row) {
        responses.delete(req.id.toLowerCase());
        throw notFound("event", req.id);
      }
      const now = clock.now();
      const cached = responses.get(row.id);
      if (
        cached?.version === row.version &&
        cached.runsRevision === row.runsRevision &&
        cached.countersRevision === row.countersRevision &&
        cached.from <= now &&
        now < cached.until
      ) {
        return cached.response;
      }
      const state = await store.stateAt(row, now);
      const response = immutableMessage(create(GetEventResponseSchema, { event: rowToEvent(row, state) }));
      if (responses.size >= RESPONSE_CACHE_ENTRIES) responses.delete(responses.keys().next().value as string);
      responses.set(row.id, {
        version: row.version,
        runsRevision: row.runsRevision,
        countersRevision: row.countersRevision,
        from: now,
        until: state.validUntil,
        response,
      });
      return response;
    },

    async listEventRuns(req: ListEventRunsRequest, ctx: HandlerContext): Promise<ListEventRunsResponse> {
      assertValid(checkEventId(req.eventId, "event_id"));
      const window = runWindow(req);
      const limit = pageSizeOf(req.pageSize);
      const id = req.eventId.toLowerCase();
      const scope = `ListEventRuns/${id}/${window.from}/${window.to}`;
      const after = pageTokens.decode(scope, req.pageToken);
      if (after !== undefined && !isRunCursor(after)) throw new Error("a signed page token holds no run cursor");
      const row = await store.findEventById(id);
      if (!row) throw notFound("event", req.eventId);
      const found = await runs
        .runsInWindow(row, window, after, limit, {
          signal: ctx.signal,
          owner: ctx.values.get(principalKey)?.keyId,
        })
        .catch((err: unknown) => {
          if (err instanceof RecurrenceTooCostly) {
            // A property of the rule and the window, not of the moment: retrying the same page does not help.
            throw serviceError(
              Code.FailedPrecondition,
              "RUNS_NOT_COMPUTED",
              `the runs of event ${id} beyond those planned could not be computed (${err.message}); ask for a window nearer its planned runs`,
            );
          }
          if (err instanceof RecurrenceQueueFull) throw err.toConnectError();
          throw err;
        });
      const page = found.runs.slice(0, limit);
      const last = page.at(-1);
      const next: RunCursor | undefined =
        found.runs.length > limit && last ? { runNumber: last.runNumber, startTime: last.startTime } : found.resumeAt;
      return create(ListEventRunsResponseSchema, {
        runs: page.map((run) =>
          create(EventRunSchema, {
            eventId: id,
            runNumber: BigInt(run.runNumber),
            startTime: timestampFromStoredMs(run.startTime),
            endTime: timestampFromStoredMs(run.endTime),
            endedEarly: run.endedEarly,
          }),
        ),
        nextPageToken: next ? pageTokens.encode(scope, next) : "",
      });
    },
  };
}
