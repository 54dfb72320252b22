import type { JsonSchema } from "./json-schemas.js";

// The conditional reads of src/server/conditional-reads.ts, as the document describes them: every read by GET (the
// REST routes and the Connect GET form) answers an ETag and 304 for a matching If-None-Match. POST answers have none.

/** The request header of a conditional read. */
export const conditionalReadParameters: Record<string, JsonSchema> = {
  IfNoneMatch: {
    name: "If-None-Match",
    in: "header",
    description:
      "The `ETag` of a copy the client holds (or a list of them, `W/` ignored, or `*`): when it is the current " +
      "answer, the server answers `304 Not Modified` without a body instead of sending it again.",
    schema: { type: "string" },
  },
};

/** The caching headers of a read's answer, 200 or 304. */
export const conditionalReadHeaders: Record<string, JsonSchema> = {
  ETag: {
    description:
      "A strong entity tag of the body sent to this caller: 128 bits of the SHA-256 of its bytes, base64url; a " +
      'compressed Connect GET answer has its coding appended (`"…-gzip"`). Send it back in `If-None-Match`.',
    required: true,
    schema: { type: "string", pattern: '^"[A-Za-z0-9_-]+"$' },
  },
  CacheControl: {
    description:
      "`private, no-cache`: the body is one key's or one player's view, which a shared cache must not keep, and " +
      "statuses move with the clock, so a copy is revalidated (with `If-None-Match`) before every use.",
    required: true,
    schema: { type: "string", const: "private, no-cache" },
  },
  Vary: {
    description:
      "The request headers the answer depends on: `Authorization` (whose view it is), beside `Origin`; a Connect " +
      "GET also varies by `Accept-Encoding`.",
    required: true,
    schema: { type: "string", pattern: "(^|,)\\s*Authorization\\s*(,|$)" },
  },
};

const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });

/** The caching headers, by the names a response carries them under. */
const readHeaders = {
  ETag: headerRef("ETag"),
  "Cache-Control": headerRef("CacheControl"),
  Vary: headerRef("Vary"),
};

/** The 304 answer of a conditional read. */
export const conditionalReadResponses: Record<string, JsonSchema> = {
  NotModified: {
    description:
      "Not Modified: the copy named by `If-None-Match` is the current answer; no body, the same ETag and caching " +
      "headers as the 200.",
    headers: readHeaders,
  },
};

/** What a GET read adds to its operation: the If-None-Match parameter, the caching headers, the 304 answer. */
export function conditionalRead(operation: JsonSchema & { parameters: JsonSchema[]; responses: JsonSchema }) {
  const ok = operation.responses["200"] as JsonSchema;
  return {
    ...operation,
    description: `${operation.description === undefined ? "" : `${operation.description}\n\n`}${CONDITIONAL_NOTE}`,
    parameters: [...operation.parameters, { $ref: "#/components/parameters/IfNoneMatch" }],
    responses: {
      "200": { ...ok, headers: readHeaders },
      "304": { $ref: "#/components/responses/NotModified" },
      ...Object.fromEntries(Object.entries(operation.responses).filter(([status]) => status !== "200")),
    },
  };
}

/** Said on every conditional read; HEAD is said here rather than as operations of its own (it has no body). */
const CONDITIONAL_NOTE =
  "A conditional read: the answer carries an `ETag` (and `Cache-Control: private, no-cache`), and a request whose " +
  "`If-None-Match` names it is answered `304 Not Modified` without a body. `HEAD` answers the headers of this GET. " +
  "Errors carry no ETag and `Cache-Control: no-store`.";
