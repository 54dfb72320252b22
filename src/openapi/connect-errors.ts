import type { DescMessage } from "@bufbuild/protobuf";
import { type JsonSchema, schemaRef } from "./json-schemas.js";

/** The Connect protocol's error codes, as its JSON error body spells them. */
const connectCodes = [
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
];

/** The schemas of the Connect error body; `debug` is the JSON form of one of the detail messages. */
export function connectErrorSchemas(details: DescMessage[]): Record<string, JsonSchema> {
  return {
    "connect.Error": {
      description:
        "A Connect error: the code, a message for people, and typed details (e.g. google.rpc.BadRequest for " +
        "INVALID_ARGUMENT, google.rpc.ErrorInfo with a stable reason, google.rpc.RetryInfo when rate limited).",
      type: "object",
      required: ["code"],
      properties: {
        code: { type: "string", enum: connectCodes },
        message: { type: "string" },
        details: { type: "array", items: { $ref: schemaRef("connect.ErrorDetail") } },
      },
    },
    "connect.ErrorDetail": {
      description: "One error detail: a protobuf message, its type name and binary form, and its JSON for reading.",
      type: "object",
      required: ["type", "value"],
      properties: {
        type: { type: "string", description: "The detail message's full name, e.g. `google.rpc.BadRequest`." },
        value: { type: "string", contentEncoding: "base64", description: "The message in protobuf binary, base64." },
        debug: {
          description: "The message as JSON.",
          anyOf: details.map((detail) => ({ $ref: schemaRef(detail.typeName) })),
        },
      },
    },
  };
}

/** Where each HTTP status of an error comes from (Connect's code-to-status mapping). */
const errorStatuses: [name: string, description: string][] = [
  ["BadRequest", "invalid_argument, failed_precondition or out_of_range (400)."],
  ["Unauthenticated", "unauthenticated (401): no key, or an unknown, expired or revoked one."],
  ["PermissionDenied", "permission_denied (403): the key's role may not call this."],
  ["NotFound", "not_found (404)."],
  [
    "UnsupportedMediaType",
    "Unsupported Media Type (415, code invalid_argument, reason UNSUPPORTED_MEDIA_TYPE): the request has no " +
      "Content-Type or one no protocol takes; the message and the `Accept-Post` header list those the method takes.",
  ],
  ["ResourceExhausted", "resource_exhausted (429): rate limited (see the Retry-After header) or a limit reached."],
  ["Error", "Any other Connect error: already_exists and aborted (409), internal (500), unavailable (503)…"],
];

/** The error responses, each a Connect error body. */
export function connectErrorResponses(): Record<string, JsonSchema> {
  const responses: Record<string, JsonSchema> = {};
  for (const [name, description] of errorStatuses) {
    responses[name] = {
      description,
      content: { "application/json": { schema: { $ref: schemaRef("connect.Error") } } },
    };
  }
  responses.UnsupportedMediaType = {
    ...responses.UnsupportedMediaType,
    headers: {
      "Accept-Post": {
        description: "The content types the method takes, comma-separated (as connect-go sends it).",
        schema: { type: "string" },
      },
    },
  };
  return responses;
}
