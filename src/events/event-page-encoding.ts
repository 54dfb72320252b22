import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { type ListEventsResponse, ListEventsResponseSchema } from "../../gen/liveops/v1/event_service_pb.js";
import { encodeOnce, immutableMessage } from "../server/encoding-memo.js";
import { jsonWriteOptions } from "../server/rest-routes.js";
import type { EventPieces } from "./event-views.js";

/**
 * The encodings a page is sent in, by the names the server keeps them under (encoding-memo.ts): protobuf binary and
 * JSON bytes for RPCs (unary-fast-path.ts), JSON text for the REST route (rest-routes.ts).
 */
export type PageFormat = "binary" | "json" | "json-text";

const BINARY: readonly PageFormat[] = ["binary"];
const JSON_BYTES: readonly PageFormat[] = ["json"];
const EITHER: readonly PageFormat[] = ["binary", "json"];

/**
 * The format an RPC is answered in, read from its request — its content type (`application/json`,
 * `application/grpc+json`, … against `application/proto`, `application/grpc`, …), a Connect GET's `encoding` — so that
 * its page is assembled in that one alone; both when the request does not say. A wrong guess costs only speed: the
 * server serializes a format it finds no encoding of.
 */
export function rpcFormatOf(ctx: Pick<HandlerContext, "requestHeader" | "url">): readonly PageFormat[] {
  const type = ctx.requestHeader.get("content-type");
  if (type !== null) return /[/+]json\b/i.test(type) ? JSON_BYTES : BINARY;
  const encoding = URL.canParse(ctx.url) ? new URL(ctx.url).searchParams.get("encoding") : null;
  return encoding === "json" ? JSON_BYTES : encoding === "proto" ? BINARY : EITHER;
}

const EVENTS_OPEN = '{"events":[';
const OPEN = Buffer.from(EVENTS_OPEN);
const COMMA = Buffer.from(",");

/**
 * The encodings of `response`, whose events' encodings are `pieces`, assembled from them: the very bytes of the
 * reflective serializer (toBinary; toJsonString with the API's JSON options), which writes a message's fields in
 * field number order — `events` (1) first — and a nested message as it writes it alone. Undefined for a format whose
 * layout is not that one (JSON options that leave an empty list out), which the server then serializes itself.
 */
export function pageEncodings(
  response: ListEventsResponse,
  pieces: readonly EventPieces[],
): Record<PageFormat, () => Uint8Array | string | undefined> {
  const rest = create(ListEventsResponseSchema, { ...response, events: [] });
  const json = () => {
    const tail = toJsonString(ListEventsResponseSchema, rest, jsonWriteOptions);
    if (!tail.startsWith(`${EVENTS_OPEN}]`)) return undefined;
    const parts: Uint8Array[] = [OPEN];
    for (const [i, piece] of pieces.entries()) {
      if (i > 0) parts.push(COMMA);
      parts.push(piece.json());
    }
    parts.push(Buffer.from(tail.slice(EVENTS_OPEN.length)));
    return Buffer.concat(parts);
  };
  return {
    binary: () => Buffer.concat([...pieces.map((piece) => piece.field1()), toBinary(ListEventsResponseSchema, rest)]),
    json,
    "json-text": () => json()?.toString(),
  };
}

/**
 * Makes `response` immutable with its encodings in `formats` assembled from its events' `pieces` and kept with it,
 * so that the server sends them rather than serialize the page's events again (see {@link pageEncodings}).
 */
export function withPageEncodings(
  response: ListEventsResponse,
  pieces: readonly EventPieces[],
  formats: readonly PageFormat[],
): ListEventsResponse {
  const encodings = pageEncodings(response, pieces);
  immutableMessage(response);
  for (const format of formats) {
    const encoded = encodings[format]();
    if (encoded !== undefined) encodeOnce(response, format, () => encoded);
  }
  return response;
}
