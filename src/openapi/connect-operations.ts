import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { conditionalRead } from "./conditional-reads.js";
import { type CommentsOf, type JsonSchema, schemaRef } from "./json-schemas.js";

/** The error answers every call may give, by HTTP status (see connect-errors.ts), as references. */
export const errorResponses: JsonSchema = {
  "400": { $ref: "#/components/responses/BadRequest" },
  "401": { $ref: "#/components/responses/Unauthenticated" },
  "403": { $ref: "#/components/responses/PermissionDenied" },
  "404": { $ref: "#/components/responses/NotFound" },
  "429": { $ref: "#/components/responses/ResourceExhausted" },
  default: { $ref: "#/components/responses/Error" },
};

/** The Connect protocol headers a unary POST may carry. */
export const connectHeaderParameters: Record<string, JsonSchema> = {
  ConnectProtocolVersion: {
    name: "Connect-Protocol-Version",
    in: "header",
    description: "The Connect protocol version; optional on this server.",
    schema: { type: "string", enum: ["1"] },
  },
  ConnectTimeoutMs: {
    name: "Connect-Timeout-Ms",
    in: "header",
    description: "The call's deadline in milliseconds (capped by the server's MAX_DEADLINE_MS).",
    schema: { type: "string", pattern: "^[0-9]{1,10}$" },
  },
};

/** The query parameters of the Connect GET form besides `message`, which differs per method. */
export const connectGetParameters: Record<string, JsonSchema> = {
  ConnectGetEncoding: {
    name: "encoding",
    in: "query",
    required: true,
    description: "The codec of `message`: `json` here.",
    schema: { type: "string", enum: ["json"] },
  },
  ConnectGetVersion: {
    name: "connect",
    in: "query",
    description: "The Connect protocol version.",
    schema: { type: "string", enum: ["v1"] },
  },
  ConnectGetBase64: {
    name: "base64",
    in: "query",
    description: "`1` when `message` is base64url-encoded (then `message` holds the base64url of the JSON).",
    schema: { type: "string", enum: ["1"] },
  },
  ConnectGetCompression: {
    name: "compression",
    in: "query",
    description: "The compression of `message` (`gzip` or `br`); absent for none.",
    schema: { type: "string" },
  },
};

const parameterRef = (name: string) => ({ $ref: `#/components/parameters/${name}` });

/** The path of a method on the Connect protocol, as connect-node routes it. */
export const connectPath = (method: DescMethod) => `/${method.parent.typeName}/${method.name}`;

/** Whether Connect also serves the method by GET (`option idempotency_level = NO_SIDE_EFFECTS`). */
export const servesConnectGet = (method: DescMethod) =>
  method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;

function okResponse(method: DescMethod): JsonSchema {
  return {
    description: `The \`${method.output.typeName}\` message as JSON (every field written, even when empty).`,
    content: { "application/json": { schema: { $ref: schemaRef(method.output.typeName) } } },
  };
}

/**
 * The path item of a unary method: `POST` with the request message as a JSON body, and for a method without side
 * effects the Connect GET form, whose request is the URL-encoded JSON in the `message` query parameter (a conditional
 * read: ETag, If-None-Match, 304).
 */
export function unaryPathItem(method: DescMethod, commentsOf: CommentsOf): JsonSchema {
  const service = method.parent;
  const description = commentsOf(method);
  const common = {
    tags: [service.name],
    summary: `${service.name}.${method.name}`,
    ...(description !== undefined && { description }),
  };
  const item: JsonSchema = {
    post: {
      ...common,
      operationId: `${service.name}_${method.name}`,
      parameters: [parameterRef("ConnectProtocolVersion"), parameterRef("ConnectTimeoutMs")],
      requestBody: {
        required: true,
        content: { "application/json": { schema: { $ref: schemaRef(method.input.typeName) } } },
      },
      responses: {
        "200": okResponse(method),
        ...errorResponses,
        "415": { $ref: "#/components/responses/UnsupportedMediaType" },
      },
    },
  };
  if (servesConnectGet(method)) {
    item.get = conditionalRead({
      ...common,
      operationId: `${service.name}_${method.name}_Get`,
      parameters: [
        parameterRef("ConnectGetEncoding"),
        {
          name: "message",
          in: "query",
          required: true,
          description: `The \`${method.input.typeName}\` request as JSON, URL-encoded (\`{}\` for an empty request).`,
          content: { "application/json": { schema: { $ref: schemaRef(method.input.typeName) } } },
        },
        parameterRef("ConnectGetVersion"),
        parameterRef("ConnectGetBase64"),
        parameterRef("ConnectGetCompression"),
        parameterRef("ConnectTimeoutMs"),
      ],
      responses: { "200": okResponse(method), ...errorResponses },
    });
  }
  return item;
}

/** A service's unary methods (described as paths) and its streaming ones (which plain HTTP JSON cannot call). */
export function methodsOf(service: DescService): { unary: DescMethod[]; streaming: DescMethod[] } {
  return {
    unary: service.methods.filter((method) => method.methodKind === "unary"),
    streaming: service.methods.filter((method) => method.methodKind !== "unary"),
  };
}
