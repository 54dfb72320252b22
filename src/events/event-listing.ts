import { EventStatus } from "../../gen/liveops/v1/event_pb.js";
import type { ListEventsRequest } from "../../gen/liveops/v1/event_service_pb.js";
import { assertValid, type FieldViolation } from "../errors.js";
import { EVENT_STATUSES, type EventFilter, type EventOrder, type EventPosition } from "./event-list-store.js";

/** The longest title_query, in characters. */
export const TITLE_QUERY_MAX = 200;

/** The orders ListEvents accepts, by their order_by spelling. */
const ORDERS: ReadonlyMap<string, EventOrder> = new Map([
  ["start_time", { key: "start_time", descending: false }],
  ["start_time desc", { key: "start_time", descending: true }],
  ["end_time", { key: "end_time", descending: false }],
  ["end_time desc", { key: "end_time", descending: true }],
]);

/** The names a caller knows the fields by (the REST route names some of them otherwise). */
export interface ListingFieldNames {
  titleQuery: string;
  orderBy: string;
}

const RPC_FIELD_NAMES: ListingFieldNames = { titleQuery: "title_query", orderBy: "order_by" };

/** A ListEvents request, checked: its filter, its order and the scope its page tokens are bound to. */
export interface EventListing {
  filter: EventFilter;
  order: EventOrder;
  /** The page token scope: a token carries its order and filters, and another request's is refused. */
  scope: string;
}

/** order_by as written, with its spaces and case made canonical: "Start_Time  DESC" is "start_time desc". */
function canonicalOrder(orderBy: string): string {
  return orderBy.trim().replace(/\s+/g, " ").toLowerCase() || "start_time";
}

/** The filter and order of a ListEvents request, or INVALID_ARGUMENT naming every bad field. */
export function eventListingOf(req: ListEventsRequest, names: ListingFieldNames = RPC_FIELD_NAMES): EventListing {
  const violations: FieldViolation[] = [];
  const allowed = EVENT_STATUSES.map((s) => `EVENT_STATUS_${EventStatus[s]}`).join(", ");
  if (!(req.status in EventStatus)) {
    violations.push({ field: "status", description: `unknown status ${req.status}`, reason: "UNKNOWN_ENUM" });
  }
  req.statuses.forEach((status, i) => {
    if (!(EVENT_STATUSES as readonly EventStatus[]).includes(status)) {
      violations.push({
        field: `statuses[${i}]`,
        description: `must be one of ${allowed} (got ${status === EventStatus.UNSPECIFIED ? "EVENT_STATUS_UNSPECIFIED" : status})`,
        reason: status === EventStatus.UNSPECIFIED ? "UNSPECIFIED" : "UNKNOWN_ENUM",
      });
    }
  });
  if ([...req.titleQuery].length > TITLE_QUERY_MAX) {
    violations.push({
      field: names.titleQuery,
      description: `must be at most ${TITLE_QUERY_MAX} characters`,
      reason: "TOO_LONG",
    });
  }
  const orderName = canonicalOrder(req.orderBy);
  const order = ORDERS.get(orderName);
  if (!order) {
    violations.push({
      field: names.orderBy,
      description: `must be one of ${[...ORDERS.keys()].map((o) => `"${o}"`).join(", ")}`,
      reason: "UNKNOWN_ORDER",
    });
  }
  assertValid(violations);
  const wanted = new Set([...req.statuses, ...(req.status === EventStatus.UNSPECIFIED ? [] : [req.status])]);
  const statuses = EVENT_STATUSES.filter((s) => wanted.has(s));
  const filter = { statuses, titleQuery: req.titleQuery };
  // The scope of tokens made before these filters existed, for the requests they could express.
  const legacy = statuses.length <= 1 && filter.titleQuery === "" && orderName === "start_time";
  const scope = legacy
    ? `ListEvents/${statuses[0] ?? EventStatus.UNSPECIFIED}`
    : `ListEvents/${JSON.stringify({ statuses, q: filter.titleQuery, order: orderName })}`;
  return { filter, order: order as EventOrder, scope };
}

/**
 * The cursor of a page token in `order`: `{startTime, id}` (the shape tokens have always had) or `{endTime, id}`,
 * named after the time it holds, so that it cannot be read in the other order.
 */
export function positionToCursor(order: EventOrder, position: EventPosition): object {
  return order.key === "start_time"
    ? { startTime: position.time, id: position.id }
    : { endTime: position.time, id: position.id };
}

/** The position a decoded (signed) page token holds for `order`, or undefined for none. */
export function cursorToPosition(order: EventOrder, cursor: unknown): EventPosition | undefined {
  if (cursor === undefined) return undefined;
  const c = (typeof cursor === "object" && cursor !== null ? cursor : {}) as Record<string, unknown>;
  const time = order.key === "start_time" ? c.startTime : c.endTime;
  if (typeof c.id !== "string" || !Number.isSafeInteger(time)) {
    throw new Error(`a signed page token holds no ${order.key} cursor`);
  }
  return { time: time as number, id: c.id };
}

/** The time an order walks by, of a row. */
export function orderTime(order: EventOrder, row: { startTime: number; endTime: number }): number {
  return order.key === "start_time" ? row.startTime : row.endTime;
}
