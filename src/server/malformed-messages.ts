import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { serviceError } from "../errors.js";
import { refusalKey } from "./call-interceptors.js";
import type { Compression, UniversalHandler, UniversalServerRequest } from "./connect-internals.js";
import { envelope, FLAG_COMPRESSED, requestFlagsFault, splitEnvelopes } from "./envelopes.js";
import { connectGetMessage, decompressRequest, parseRequestMessage } from "./request-messages.js";

/*
 * connect-es answers an undecodable binary message with INTERNAL ("parse binary: …", raised inside its protocol
 * layer before any interceptor, so neither logged nor counted), where connect-go answers INVALID_ARGUMENT and where
 * the fault is the client's; and its JSON reader lets an impossible date roll over. The guard below decodes request
 * messages first and, for one that does not decode, hands the protocol layer an empty message instead and records
 * the error as the call's refusal (refusalKey), so that the refusal interceptor refuses the call — logged and
 * counted like any other — in whatever protocol the client speaks.
 */

/** Enveloped content types (gRPC, gRPC-Web, Connect streaming), binary or JSON; gRPC-Web text is left alone. */
const ENVELOPED = /^application\/(?:grpc(?:-web)?(?:\+(proto|json))?|connect\+(proto|json))(?:;|$)/;
const CONNECT_UNARY = /^application\/(proto|json)(?:;|$)/;

async function readAll(body: AsyncIterable<Uint8Array>, limit: number): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    length += chunk.byteLength;
    if (length > limit) return undefined;
  }
  return Buffer.concat(chunks, length);
}

/** What a decoding attempt threw, as the error the client gets. */
function refusal(err: unknown): ConnectError {
  return err instanceof ConnectError ? err : malformedMessage(err instanceof Error ? err.message : String(err));
}

/** The first error of the enveloped messages in `bytes`; undefined when all decode or cannot be checked. */
async function checkEnvelopes(
  bytes: Uint8Array,
  compression: Compression | undefined | null,
  decode: (payload: Uint8Array) => void,
  limit: number,
): Promise<ConnectError | undefined> {
  // Incomplete frames, and those of an encoding not accepted, are left to the protocol layer, which reports them.
  for (const { flags, payload } of splitEnvelopes(bytes).frames) {
    const fault = requestFlagsFault(flags, compression);
    if (fault) return malformedMessage(fault);
    const compressed = (flags & FLAG_COMPRESSED) !== 0;
    if (compressed && compression === undefined) return undefined;
    try {
      decode(compressed && compression ? await decompressRequest(compression, payload, limit) : payload);
    } catch (err) {
      return refusal(err);
    }
  }
  return undefined;
}

/**
 * An empty message in the request's format and framing. JSON's is `{}`: an empty payload is no JSON, and the
 * protocol layer would refuse it with its own error before the interceptor could give the recorded one.
 */
function emptyMessage(framed: boolean, json: boolean): Uint8Array {
  const payload = json ? encodeText("{}") : new Uint8Array(0);
  return framed ? envelope(0, payload) : payload;
}

/** A Connect GET whose message does not decode, refused in place of its message: an empty one. */
function guardGet(handler: UniversalHandler, req: UniversalServerRequest) {
  const url = new URL(req.url);
  const encoding = url.searchParams.get("encoding");
  // Unknown encodings (415) and compressed messages are the protocol layer's to refuse.
  if ((encoding !== "proto" && encoding !== "json") || url.searchParams.has("compression")) return handler(req);
  let error: ConnectError | undefined;
  try {
    parseRequestMessage(handler.method.input, encoding === "proto", connectGetMessage(url.searchParams));
  } catch (err) {
    error = refusal(err);
  }
  if (!error) return handler(req);
  const contextValues = req.contextValues ?? createContextValues();
  contextValues.set(refusalKey, error);
  url.search = encoding === "json" ? "?encoding=json&message=%7B%7D" : "?encoding=proto&message=";
  return handler({ ...req, url: url.toString(), contextValues });
}

/**
 * Wraps a handler so that a request message that does not decode — binary or JSON, bare, enveloped or in a
 * Connect GET query — is refused with INVALID_ARGUMENT by the interceptors rather than by the protocol layer.
 */
export function guardMalformedMessages(
  handler: UniversalHandler,
  maxBytes: number,
  acceptCompression: readonly Compression[] = [],
): UniversalHandler {
  const guarded = async (req: UniversalServerRequest) => {
    if (req.method === "GET") return guardGet(handler, req);
    const contentType = req.header.get("content-type") ?? "";
    const enveloped = ENVELOPED.exec(contentType);
    const unary = enveloped ? null : CONNECT_UNARY.exec(contentType);
    const format = enveloped ? (enveloped[1] ?? enveloped[2] ?? "proto") : unary?.[1];
    if (format === undefined || (unary && req.header.get("content-encoding"))) return handler(req);
    if (!(Symbol.asyncIterator in Object(req.body))) return handler(req);
    const decode = (payload: Uint8Array) => parseRequestMessage(handler.method.input, format === "proto", payload);
    // The limit the protocol layer enforces, plus framing: anything longer is passed on for it to refuse.
    const bytes = await readAll(req.body as AsyncIterable<Uint8Array>, maxBytes + 1024);
    if (bytes === undefined) return handler(req);
    let error: ConnectError | undefined;
    if (enveloped) {
      const encoding = req.header.get("grpc-encoding") ?? req.header.get("connect-content-encoding");
      // null: no encoding named; undefined: one this server does not accept.
      const compression = encoding === null ? null : acceptCompression.find((c) => c.name === encoding);
      error = await checkEnvelopes(bytes, compression, decode, maxBytes);
    } else {
      try {
        decode(bytes);
      } catch (err) {
        error = refusal(err);
      }
    }
    const contextValues = req.contextValues ?? createContextValues();
    if (error !== undefined) contextValues.set(refusalKey, error);
    const body = error === undefined ? bytes : emptyMessage(Boolean(enveloped), format === "json");
    const header = new Headers(req.header);
    if (header.has("content-length")) header.set("content-length", String(body.byteLength));
    return handler({
      ...req,
      header,
      contextValues,
      body: (async function* () {
        yield body;
      })(),
    });
  };
  return Object.assign(guarded, handler);
}

const encodeText = (text: string) => new TextEncoder().encode(text);

/** INVALID_ARGUMENT for a request message that does not decode, and why. */
export function malformedMessage(reason: string) {
  return serviceError(Code.InvalidArgument, "MALFORMED_MESSAGE", `the request message does not decode: ${reason}`);
}
