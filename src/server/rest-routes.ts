import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { create, type DescMessage, type MessageShape, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { EventStatus } from "../../gen/liveops/v1/event_pb.js";
import {
  EventService,
  GetEventRequestSchema,
  GetEventResponseSchema,
  ListEventsRequestSchema,
  ListEventsResponseSchema,
} from "../../gen/liveops/v1/event_service_pb.js";
import type { AccessControl } from "../auth/access-control.js";
import { methodPath } from "../auth/roles.js";
import { assertValid, serviceError } from "../errors.js";
import type { createEventService } from "../events/event-service.js";
import { PAGE_SIZE_MAX } from "../page-token.js";
import type { CallObserver } from "./call-observer.js";
import { type ConditionalRead, cacheHeaders, entityTag, sendNotModified } from "./conditional-reads.js";
import { connect } from "./connect-internals.js";
import { encodeOnce } from "./encoding-memo.js";

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/** JSON options shared by the REST routes and the Connect adapter. */
export const jsonWriteOptions = { alwaysEmitImplicit: true } as const;

/** Sends a JSON body (already serialized) that no cache may keep. */
export function sendJson(res: Response, status: number, body: string) {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("cache-control", "no-store");
  res.end(body);
}

/**
 * Sends a message read for the caller as JSON, with its ETag and the caching headers of a read; `304 Not Modified`
 * when the caller's If-None-Match names that ETag.
 */
function sendMessage<Desc extends DescMessage>(req: Request, res: Response, schema: Desc, message: MessageShape<Desc>) {
  const body = encodeOnce(message, "json-text", () => toJsonString(schema, message, jsonWriteOptions));
  // A cached response (an immutable message) is hashed once per version, as it is serialized once.
  const etag = encodeOnce(message, "json-text-etag", () => entityTag(body));
  const read: ConditionalRead = { ifNoneMatch: req.headers["if-none-match"], vary: ["Authorization"] };
  const headers = new Map<string, string>();
  const fresh = cacheHeaders(res, headers, read, body, undefined, etag);
  for (const [name, value] of headers) res.setHeader(name, value);
  if (fresh) return sendNotModified(res);
  res.statusCode = 200;
  res.setHeader("content-type", "application/json");
  res.end(body);
}

/** Sends an error as the Connect protocol's JSON error body with its HTTP status. */
export function sendError(res: Response, err: ConnectError, status = connect.codeToHttpStatus(err.code)) {
  sendJson(res, status, JSON.stringify(connect.errorToJson(err, jsonWriteOptions)));
}

function integerParam(url: Target, name: string, absent: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null) return absent;
  const value = Number(raw);
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || Math.abs(value) > 2 ** 31) {
    throw new ConnectError(`query parameter ${name} must be a whole number`, Code.InvalidArgument);
  }
  return value;
}

/** The query parameters of `GET /events`: ListEvents' title_query (as `q`), order_by and paging. */
const LIST_PARAMETERS = ["q", "order_by", "page_size", "page_token"] as const;

/**
 * INVALID_ARGUMENT naming each query parameter the route does not take, and those it does: a misspelt or
 * unsupported filter (`?status=ENDED`) would otherwise be ignored, and the answer taken for a filtered one.
 */
function checkQueryParameters(url: Target, accepted: readonly string[]) {
  if (url.searchParams.size === 0) return;
  const unknown = [...new Set(url.searchParams.keys())].filter((name) => !accepted.includes(name));
  if (unknown.length === 0) return;
  const takes =
    accepted.length === 0 ? "takes no query parameters" : `takes only the query parameters ${accepted.join(", ")}`;
  const statusHint = "; it lists the active events only (EventService.ListEvents filters by status and statuses)";
  assertValid(
    unknown.map((name) => ({
      field: name,
      description: `is not a query parameter of GET ${url.pathname}, which ${takes}${
        accepted.length > 0 && /^status(es)?$/i.test(name) ? statusHint : ""
      }`,
      reason: "UNKNOWN_PARAMETER",
    })),
  );
}

/**
 * The REST routes of the original contract: `GET /events` (the active events, as ListEventsResponse JSON; `q` and
 * `order_by` are ListEvents' title_query and order_by; any other query parameter is INVALID_ARGUMENT) and
 * `GET /events/{id}` (GetEventResponse JSON). They call the same service methods as the RPCs, under the same
 * permission table, and answer with an ETag and 304 for If-None-Match (see conditional-reads.ts). Returns false for
 * any other path.
 */
export function createRestRoutes(deps: {
  eventService: ReturnType<typeof createEventService>;
  access: AccessControl;
  observer: CallObserver;
}) {
  const listPath = methodPath(EventService.method.listEvents);
  const getPath = methodPath(EventService.method.getEvent);

  async function serve(req: Request, res: Response, url: Target, id: string | undefined, call: RestCall) {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      throw serviceError(Code.Unimplemented, "METHOD_NOT_ALLOWED", `${req.method} is not allowed on ${url.pathname}`);
    }
    const method = id === undefined ? listPath : getPath;
    const principal = await deps.access.check(req.headers.authorization, method, call.address);
    call.keyId = principal.keyId;
    checkQueryParameters(url, id === undefined ? LIST_PARAMETERS : []);
    if (id === undefined) {
      const request = create(ListEventsRequestSchema, {
        status: EventStatus.ACTIVE,
        // The original contract returns every active event: the largest page unless the caller asks for less.
        pageSize: integerParam(url, "page_size", PAGE_SIZE_MAX),
        pageToken: url.searchParams.get("page_token") ?? "",
        titleQuery: url.searchParams.get("q") ?? "",
        orderBy: url.searchParams.get("order_by") ?? "",
      });
      const names = { titleQuery: "q", orderBy: "order_by" };
      sendMessage(req, res, ListEventsResponseSchema, await deps.eventService.listEventsAs(principal, request, names));
    } else {
      const response = await deps.eventService.getEventAs(principal, create(GetEventRequestSchema, { id }));
      sendMessage(req, res, GetEventResponseSchema, response);
    }
  }

  /** Serves the request and returns true when its path is a REST route; returns false for any other path. */
  return function handleRest(req: Request, res: Response, context: { requestId: string; address: string }): boolean {
    if (!req.url?.startsWith("/events")) return false;
    const url = targetOf(req.url);
    const match = /^\/events(?:\/([^/]+))?\/?$/.exec(url.pathname);
    if (!match) return false;
    const startedAt = deps.observer.start();
    const call: RestCall = { address: context.address, keyId: undefined };
    const segment = match[1];
    const method = segment === undefined ? listPath : getPath;
    const finish = (error: ConnectError | undefined) =>
      deps.observer.finish({
        method,
        protocol: "rest",
        httpMethod: req.method,
        path: url.pathname,
        keyId: call.keyId,
        requestId: context.requestId,
        startedAt,
        error,
      });
    const fail = (err: unknown) => {
      const shown = deps.observer.publicErrorOf(err, method, context.requestId);
      for (const [name, value] of shown.metadata) res.setHeader(name, value);
      sendError(res, shown, shown.code === Code.Unimplemented ? 405 : undefined);
      finish(shown);
    };
    try {
      const id = segment === undefined ? undefined : decodeURIComponent(segment);
      serve(req, res, url, id, call).then(() => finish(undefined), fail);
    } catch (err) {
      fail(
        err instanceof URIError ? serviceError(Code.InvalidArgument, "INVALID_ARGUMENT", "malformed event id") : err,
      );
    }
    return true;
  };
}

/** The path and query of a request's target, as the WHATWG URL parser reads them. */
interface Target {
  pathname: string;
  searchParams: URLSearchParams;
}

/** A target made only of these characters is its own path: the URL parser would leave it as it is. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_~-]+)+\/?$/;
const NO_PARAMETERS: URLSearchParams = new URLSearchParams();

/** The path and query of `target`, without a URL parse for a plain path (`/events/<id>`, every GetEvent). */
function targetOf(target: string): Target {
  if (PLAIN_PATH.test(target)) return { pathname: target, searchParams: NO_PARAMETERS };
  return new URL(target, "http://localhost");
}

/** What a REST call learns as it goes, for its log line. */
interface RestCall {
  address: string;
  keyId: string | undefined;
}
