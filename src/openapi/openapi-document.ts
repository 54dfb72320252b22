import type { DescFile, DescMessage, Registry } from "@bufbuild/protobuf";
import { conditionalReadHeaders, conditionalReadParameters, conditionalReadResponses } from "./conditional-reads.js";
import { connectErrorResponses, connectErrorSchemas } from "./connect-errors.js";
import {
  connectGetParameters,
  connectHeaderParameters,
  connectPath,
  methodsOf,
  unaryPathItem,
} from "./connect-operations.js";
import { httpRouteMessages, httpRoutePaths, httpRouteTags } from "./http-routes.js";
import { type CommentsOf, enumSchema, type JsonSchema, messageSchema, reachableTypes } from "./json-schemas.js";

/** What the document is made from. */
export interface OpenApiSource {
  /** Every file of the request, imports included. */
  registry: Registry;
  /** The files whose services become paths (liveops.v1), in a stable order. */
  files: DescFile[];
  /** The files whose messages are error details (google.rpc). */
  errorDetailFiles: DescFile[];
  commentsOf: CommentsOf;
  /** The service's version (package.json). */
  version: string;
}

const sortedByKey = <T>(record: Record<string, T>): Record<string, T> =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

function introduction(streaming: string[]): string {
  return [
    "The liveops API on the Connect protocol's JSON form: every unary RPC is `POST /<package>.<Service>/<Method>` " +
      "with the request message as a JSON body (`Content-Type: application/json`), answering the response message " +
      "as JSON with 200, or a Connect error body with its HTTP status. Methods without side effects also answer " +
      "the Connect GET form, and `/events` and `/events/{id}` are REST routes for game clients. Every GET read " +
      "answers an `ETag` and `304 Not Modified` for a matching `If-None-Match`, and `HEAD` its headers.",
    "Messages follow the proto3 JSON mapping: camelCase names, 64-bit integers as strings, enums by name, " +
      "timestamps in RFC 3339, durations like `3.5s`. The same endpoints speak gRPC and gRPC-Web for generated clients.",
    `Not described as paths: the server-streaming methods ${streaming.map((name) => `\`${name}\``).join(", ")}, ` +
      "which use the Connect streaming protocol (`application/connect+json`, enveloped messages) or gRPC: call them " +
      "with a Connect or gRPC client. The gRPC health and reflection services are for probes and tools, not described.",
  ].join("\n\n");
}

/** The OpenAPI 3.1 document of the liveops API, as plain data with a stable key order. */
export function createOpenApiDocument(source: OpenApiSource): JsonSchema {
  const { registry, commentsOf } = source;
  const paths: Record<string, JsonSchema> = httpRoutePaths(registry, commentsOf);
  const tags: JsonSchema[] = [];
  const roots: DescMessage[] = httpRouteMessages(registry);
  const streaming: string[] = [];
  for (const file of source.files) {
    for (const service of file.services) {
      const description = commentsOf(service);
      tags.push({ name: service.name, ...(description !== undefined && { description }) });
      const methods = methodsOf(service);
      for (const method of methods.unary) {
        paths[connectPath(method)] = unaryPathItem(method, commentsOf);
        roots.push(method.input, method.output);
      }
      streaming.push(...methods.streaming.map((method) => `${service.name}.${method.name}`));
    }
  }
  const details = source.errorDetailFiles.flatMap((file) => file.messages);
  const { messages, enums } = reachableTypes([...roots, ...details]);
  const schemas: Record<string, JsonSchema> = connectErrorSchemas(details);
  for (const message of messages) schemas[message.typeName] = messageSchema(message, commentsOf);
  for (const desc of enums) schemas[desc.typeName] = enumSchema(desc, commentsOf);

  return {
    openapi: "3.1.0",
    info: {
      title: "liveops",
      version: source.version,
      description: introduction(streaming),
    },
    servers: [{ url: "http://localhost:8080", description: "A server started with npm start" }],
    security: [{ bearerAuth: [] }],
    tags: [...tags, ...httpRouteTags],
    paths,
    components: {
      schemas: sortedByKey(schemas),
      responses: { ...connectErrorResponses(), ...conditionalReadResponses },
      parameters: { ...connectHeaderParameters, ...connectGetParameters, ...conditionalReadParameters },
      headers: conditionalReadHeaders,
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description:
            "`Authorization: Bearer <key>`: an API key (its role decides which methods it may call) or a player token.",
        },
      },
    },
  };
}
