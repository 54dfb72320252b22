import type { DescMessage, Registry } from "@bufbuild/protobuf";
import { conditionalRead } from "./conditional-reads.js";
import { errorResponses } from "./connect-operations.js";
import { type CommentsOf, fieldSchema, type JsonSchema, schemaRef } from "./json-schemas.js";

/** A parameter of a hand-written route, described by the request field it fills. */
interface RouteParameter {
  name: string;
  in: "query" | "path";
  /** The field of the route's request message the parameter sets (its schema and comment describe it). */
  field: string;
}

/** A route written by hand in src/server/rest-routes.ts, answering with a proto message as JSON. */
interface MessageRoute {
  path: string;
  operationId: string;
  summary: string;
  description: string;
  request: string;
  response: string;
  parameters: RouteParameter[];
}

/**
 * The REST routes of src/server/rest-routes.ts. They are code, not protos, so this table says which request fields
 * their parameters fill; test/openapi.test.ts proves every path here is served.
 */
const messageRoutes: MessageRoute[] = [
  {
    path: "/events",
    operationId: "ListActiveEvents",
    summary: "GET /events",
    description:
      "The active events (ListEvents with status EVENT_STATUS_ACTIVE), as ListEventsResponse JSON. Without " +
      "`page_size`, the largest page (500); follow `nextPageToken` for more. Same permission as ListEvents. " +
      "Takes only the query parameters below: any other (e.g. `status`) is refused with 400.",
    request: "liveops.v1.ListEventsRequest",
    response: "liveops.v1.ListEventsResponse",
    parameters: [
      { name: "page_size", in: "query", field: "page_size" },
      { name: "page_token", in: "query", field: "page_token" },
      { name: "q", in: "query", field: "title_query" },
      { name: "order_by", in: "query", field: "order_by" },
    ],
  },
  {
    path: "/events/{id}",
    operationId: "GetEventById",
    summary: "GET /events/{id}",
    description:
      "One event, as GetEventResponse JSON; 404 when there is none. Same permission as GetEvent. Takes no query " +
      "parameters: any is refused with 400.",
    request: "liveops.v1.GetEventRequest",
    response: "liveops.v1.GetEventResponse",
    parameters: [{ name: "id", in: "path", field: "id" }],
  },
];

/** Plain JSON routes of the server itself, open without a key. */
const serverRoutes: { path: string; operationId: string; description: string; schema: JsonSchema }[] = [
  {
    path: "/health",
    operationId: "Health",
    description: "Liveness: 200 while the process answers.",
    schema: { type: "object", properties: { status: { type: "string", enum: ["ok"] } } },
  },
  {
    path: "/health/ready",
    operationId: "Readiness",
    description:
      "Readiness: 200 while the database is open and migrated and the server is not shutting down, else 503.",
    schema: { type: "object", properties: { status: { type: "string", enum: ["ok", "unavailable"] } } },
  },
  {
    path: "/openapi.json",
    operationId: "OpenApiDocument",
    description: "This document.",
    schema: { type: "object" },
  },
];

/** The request and response messages of the hand-written routes (roots of the component schemas). */
export function httpRouteMessages(registry: Registry): DescMessage[] {
  return messageRoutes.flatMap((route) => [messageOf(registry, route.request), messageOf(registry, route.response)]);
}

function messageOf(registry: Registry, typeName: string): DescMessage {
  const message = registry.getMessage(typeName);
  if (!message) throw new Error(`the route table names ${typeName}, which the protos do not declare`);
  return message;
}

function parameterObject(request: DescMessage, parameter: RouteParameter, commentsOf: CommentsOf): JsonSchema {
  const field = request.fields.find((f) => f.name === parameter.field);
  if (!field) throw new Error(`${request.typeName} has no field ${parameter.field}`);
  const { description, ...schema } = fieldSchema(field, commentsOf);
  return {
    name: parameter.name,
    in: parameter.in,
    ...(parameter.in === "path" && { required: true }),
    description: `${request.typeName}.${field.name}${description === undefined ? "" : `: ${description}`}`,
    schema,
  };
}

/** The path items of the hand-written routes, by path. */
export function httpRoutePaths(registry: Registry, commentsOf: CommentsOf): Record<string, JsonSchema> {
  const paths: Record<string, JsonSchema> = {};
  for (const route of messageRoutes) {
    const request = messageOf(registry, route.request);
    const query = route.parameters.filter((parameter) => parameter.in === "query").map((parameter) => parameter.name);
    paths[route.path] = {
      get: conditionalRead({
        tags: ["REST"],
        summary: route.summary,
        description: route.description,
        operationId: route.operationId,
        parameters: route.parameters.map((parameter) => parameterObject(request, parameter, commentsOf)),
        responses: {
          "200": {
            description: `The \`${route.response}\` message as JSON.`,
            content: { "application/json": { schema: { $ref: schemaRef(route.response) } } },
          },
          ...errorResponses,
          "400": {
            description:
              "invalid_argument (400): a parameter with a bad value, or a query parameter the route does not take " +
              `(${query.length === 0 ? "it takes none" : `it takes only ${query.join(", ")}`}): a field violation ` +
              "with reason UNKNOWN_PARAMETER names it.",
            content: { "application/json": { schema: { $ref: schemaRef("connect.Error") } } },
          },
        },
      }),
    };
  }
  for (const route of serverRoutes) {
    paths[route.path] = {
      get: {
        tags: ["Server"],
        summary: `GET ${route.path}`,
        description: route.description,
        operationId: route.operationId,
        security: [],
        responses: {
          "200": { description: "OK", content: { "application/json": { schema: route.schema } } },
          ...(route.path === "/health/ready" && {
            "503": { description: "Not ready", content: { "application/json": { schema: route.schema } } },
          }),
        },
      },
    };
  }
  return paths;
}

/** The tags of the hand-written routes. */
export const httpRouteTags = [
  { name: "REST", description: "Hand-written routes for game clients, answering with the same messages as the RPCs." },
  { name: "Server", description: "Health checks and this document; no key needed." },
];
