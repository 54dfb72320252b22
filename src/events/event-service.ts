import { create } from "@bufbuild/protobuf";
import { EventStatus } from "../../gen/liveops/v1/event_pb.js";
import {
  type GetEventRequest,
  type GetEventResponse,
  GetEventResponseSchema,
  type ListEventsRequest,
  type ListEventsResponse,
  ListEventsResponseSchema,
} from "../../gen/liveops/v1/event_service_pb.js";
import type { Clock } from "../clock.js";
import { assertValid, invalidArgument, notFound } from "../errors.js";
import { type PageTokens, pageSizeOf, takePage } from "../page-token.js";
import { immutableMessage } from "../server/encoding-memo.js";
import { type EventRow, rowToEvent } from "./event-record.js";
import { eventStatusAt } from "./event-status.js";
import type { EventCursor, EventStore } from "./event-store.js";
import { checkEventId } from "./event-validation.js";

/** GetEvent responses kept (about 2 KiB each with their encodings). */
const RESPONSE_CACHE_ENTRIES = 10_000;

/** What the event services need. */
export interface EventDeps {
  store: EventStore;
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

/** liveops.v1.EventService: reads events. The REST routes call the same methods. */
export function createEventService({ store, clock, pageTokens, pageBudgetBytes }: EventDeps) {
  /**
   * GetEvent responses by event id. A response is a function of the stored row (its version) and the status at the
   * time of the call, so it is reused — with its encodings, see encoding-memo.ts — while both stay the same.
   */
  const responses = new Map<string, { version: number; status: EventStatus; response: GetEventResponse }>();
  return {
    listEvents(req: ListEventsRequest): ListEventsResponse {
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
      const rows = store.listEvents({ status: req.status, now, after, limit: limit + 1 });
      let bytes = 0;
      const { page, last } = takePage(rows, limit, (row) => {
        bytes += encodedSizeBound(row);
        return bytes <= pageBudgetBytes;
      });
      const next: EventCursor | undefined = last && { startTime: last.startTime, id: last.id };
      return create(ListEventsResponseSchema, {
        events: page.map((row) => rowToEvent(row, now)),
        nextPageToken: next ? pageTokens.encode(scope, next) : "",
      });
    },

    getEvent(req: GetEventRequest): GetEventResponse {
      assertValid(checkEventId(req.id, "id"));
      const row = store.findEventById(req.id.toLowerCase());
      if (!row) {
        responses.delete(req.id.toLowerCase());
        throw notFound("event", req.id);
      }
      const now = clock.now();
      const status = eventStatusAt(row.startTime, row.endTime, now);
      const cached = responses.get(row.id);
      if (cached?.version === row.version && cached.status === status) return cached.response;
      const response = immutableMessage(create(GetEventResponseSchema, { event: rowToEvent(row, now) }));
      if (responses.size >= RESPONSE_CACHE_ENTRIES) responses.delete(responses.keys().next().value as string);
      responses.set(row.id, { version: row.version, status, response });
      return response;
    },
  };
}
