import type { EventEmitter } from "node:events";
import { type DescMessage, fromBinary, fromJson, type JsonReadOptions, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { invalidArgument } from "../errors.js";
import type { Compression } from "./connect-internals.js";
import { requestFlagsFault, splitEnvelopes } from "./envelopes.js";
import { timestampViolation } from "./json-timestamps.js";
import { malformedMessage } from "./malformed-messages.js";
import { nulViolation } from "./nul-characters.js";
import { enumViolations } from "./strict-enums.js";

const textDecoder = new TextDecoder();
/**
 * As connect reads JSON requests: unknown fields are ignored, so older servers accept newer clients. The option also
 * drops enum names it does not know; those are refused before (see strict-enums.ts).
 */
const readOptions: Partial<JsonReadOptions> = { ignoreUnknownFields: true };

/**
 * The JSON value of a request message, checked: INVALID_ARGUMENT (MALFORMED_MESSAGE) when it is not JSON, and
 * INVALID_ARGUMENT naming the field for a Timestamp that is not a time on the calendar (see json-timestamps.ts) and
 * for an enum value its enum does not have (see strict-enums.ts).
 */
export function parseRequestJson(schema: DescMessage, bytes: Uint8Array): unknown {
  let json: unknown;
  try {
    json = JSON.parse(textDecoder.decode(bytes));
  } catch (err) {
    throw malformedMessage(err instanceof Error ? err.message : String(err));
  }
  const violation = timestampViolation(schema, json);
  if (violation) throw invalidArgument([violation]);
  const unknownEnums = enumViolations(schema, json);
  if (unknownEnums.length > 0) throw invalidArgument(unknownEnums);
  return json;
}

/**
 * A request message in the binary or the JSON format; whatever does not decode is INVALID_ARGUMENT, never the
 * INTERNAL connect would answer for binary, and so is a string holding the NUL character (see nul-characters.ts).
 */
export function parseRequestMessage<Desc extends DescMessage>(
  schema: Desc,
  binary: boolean,
  bytes: Uint8Array,
): MessageShape<Desc> {
  const message = decodeRequestMessage(schema, binary, bytes);
  const nul = mayHoldNul(binary, bytes) ? nulViolation(schema, message) : undefined;
  if (nul) throw invalidArgument([nul]);
  return message;
}

/**
 * Whether a request's bytes can hold a string with a NUL character: binary UTF-8 holds it as a 0 byte, JSON only as
 * the escape \u0000 (a raw control character is not JSON). Most requests have neither, and skip the walk.
 */
function mayHoldNul(binary: boolean, bytes: Uint8Array): boolean {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return binary ? buffer.includes(0) : buffer.includes("\\u0000");
}

function decodeRequestMessage<Desc extends DescMessage>(
  schema: Desc,
  binary: boolean,
  bytes: Uint8Array,
): MessageShape<Desc> {
  try {
    if (binary) return fromBinary(schema, bytes);
  } catch (err) {
    throw malformedMessage(err instanceof Error ? err.message : String(err));
  }
  const json = parseRequestJson(schema, bytes);
  try {
    return fromJson(schema, json as Parameters<typeof fromJson>[1], readOptions);
  } catch (err) {
    throw malformedMessage(err instanceof Error ? err.message : String(err));
  }
}

/** base64 in the standard or the URL alphabet, padded or not, as the Connect protocol allows for GET. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** The bytes of a Connect GET `message` parameter; INVALID_ARGUMENT when `base64=1` and it is not base64. */
export function connectGetMessage(params: URLSearchParams): Uint8Array {
  const message = params.get("message") ?? "";
  if (params.get("base64") !== "1") return new TextEncoder().encode(message);
  const digits = message.replace(/=+$/, "");
  if (!BASE64.test(message) || digits.length % 4 === 1) {
    throw malformedMessage("the message query parameter is not base64 (base64=1)");
  }
  return Buffer.from(digits.replaceAll("-", "+").replaceAll("_", "/"), "base64");
}

/**
 * `bytes` decompressed; INVALID_ARGUMENT when they are not what the encoding names (connect answers INTERNAL
 * for the zlib errors it does not recognise, brotli's among them).
 */
export async function decompressRequest(
  compression: Compression,
  bytes: Uint8Array,
  limit: number,
): Promise<Uint8Array> {
  try {
    return await compression.decompress(bytes, limit);
  } catch (err) {
    if (err instanceof ConnectError && err.code !== Code.Internal) throw err;
    throw malformedMessage(`the message does not decompress as ${compression.name}`);
  }
}

/** A message over the server's limit: RESOURCE_EXHAUSTED, as connect answers it. */
export const messageTooLarge = (size: number | string, limit: number) =>
  new ConnectError(`message size ${size} is larger than the limit of ${limit} bytes`, Code.ResourceExhausted);

/** No request message, or a second one, for a method that takes one: a protocol error, UNIMPLEMENTED as gRPC says. */
export const inputMessageCount = (what: "missing" | "received extra", kind: "unary" | "server-streaming") =>
  new ConnectError(`protocol error: ${what} input message for ${kind} method`, Code.Unimplemented);

/**
 * The one message of an enveloped request body (gRPC, gRPC-Web) of a `kind` method, decompressed: bad framing is
 * INVALID_ARGUMENT, an oversize message RESOURCE_EXHAUSTED, none or two messages UNIMPLEMENTED.
 */
export async function unwrapRequestEnvelope(
  body: Buffer,
  compression: Compression | null,
  limit: number,
  kind: "unary" | "server-streaming",
): Promise<Uint8Array> {
  const { frames, rest } = splitEnvelopes(body);
  if (rest.kind === "short header") throw malformedMessage("incomplete frame header");
  if (rest.kind === "short frame") {
    if (rest.declared > limit) throw messageTooLarge(rest.declared, limit);
    throw malformedMessage("the frame is shorter than its length prefix");
  }
  const [frame, extra] = frames;
  if (!frame) throw inputMessageCount("missing", kind);
  if (extra) throw inputMessageCount("received extra", kind);
  if (frame.payload.byteLength > limit) throw messageTooLarge(frame.payload.byteLength, limit);
  const fault = requestFlagsFault(frame.flags, compression);
  if (fault) throw malformedMessage(fault);
  return frame.flags === 0 || !compression ? frame.payload : await decompressRequest(compression, frame.payload, limit);
}

/**
 * A request's body: `body` is Node's request (its Readable) or a raw HTTP/2 stream. Rejects with RESOURCE_EXHAUSTED as
 * soon as it passes `limit` bytes (the rest is not kept), CANCELED when the request ends before its body does.
 */
export function readRequestBody(body: EventEmitter, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    const settle = (error: ConnectError | undefined) => {
      if (settled) return;
      settled = true;
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onAbort);
      body.off("close", onAbort);
      if (error) reject(error);
      else resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length));
    };
    const onData = (chunk: Buffer) => {
      length += chunk.byteLength;
      if (length > limit) settle(messageTooLarge(`over ${limit}`, limit));
      else chunks.push(chunk);
    };
    const onEnd = () => settle(undefined);
    const onAbort = () => settle(new ConnectError("the client went away", Code.Canceled));
    body.on("data", onData);
    body.on("end", onEnd);
    body.on("error", onAbort);
    body.on("close", onAbort);
  });
}
