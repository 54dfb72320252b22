import { fromBinary } from "@bufbuild/protobuf";
import { Code, createContextKey, createContextValues, type Interceptor } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";
import { serviceError } from "../errors.js";

/**
 * Why the request's binary message does not decode. connect-es answers such a request with INTERNAL
 * ("parse binary: …", raised inside its protocol layer before any interceptor), where connect-go answers
 * INVALID_ARGUMENT and where the fault is the client's. The guard below decodes binary request messages first
 * and, for one that does not decode, hands the protocol layer an empty message instead and records the reason
 * here, so that {@link createMalformedMessageInterceptor} refuses the call with INVALID_ARGUMENT in whatever
 * protocol the client speaks.
 */
export const malformedMessageKey = createContextKey<string | undefined>(undefined, {
  description: "why the binary request message does not decode",
});

const FRAMED = /^application\/grpc(-web)?(\+proto)?(;|$)/;
const CONNECT_BINARY = /^application\/proto(;|$)/;

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

/** The first reason the enveloped messages in `bytes` do not decode; undefined when all do or cannot be checked. */
function checkEnvelopes(
  bytes: Uint8Array,
  compressed: boolean,
  decode: (payload: Uint8Array) => void,
): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let offset = 0; offset + 5 <= bytes.byteLength; ) {
    const flags = bytes[offset] ?? 0;
    const length = view.getUint32(offset + 1);
    const end = offset + 5 + length;
    if (flags === 1 && !compressed) return "a compressed frame without a grpc-encoding";
    if (flags > 1) return `frame flags ${flags} are not valid in a request`;
    // Compressed or incomplete frames are left to the protocol layer, which reports them itself.
    if (flags === 1 || end > bytes.byteLength) return undefined;
    try {
      decode(bytes.subarray(offset + 5, end));
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
    offset = end;
  }
  return undefined;
}

/** An empty message in the request's framing. */
function emptyMessage(framed: boolean): Uint8Array {
  return framed ? new Uint8Array(5) : new Uint8Array(0);
}

/** Wraps a handler so that a binary request message that does not decode is refused with INVALID_ARGUMENT. */
export function guardMalformedMessages(handler: UniversalHandler, maxBytes: number): UniversalHandler {
  const decode = (payload: Uint8Array) => fromBinary(handler.method.input, payload);
  const guarded = async (req: UniversalServerRequest) => {
    const contentType = req.header.get("content-type") ?? "";
    const framed = FRAMED.test(contentType);
    const plain = CONNECT_BINARY.test(contentType) && !req.header.get("content-encoding");
    if ((!framed && !plain) || !(Symbol.asyncIterator in Object(req.body))) return handler(req);
    // The limit the protocol layer enforces, plus framing: anything longer is passed on for it to refuse.
    const bytes = await readAll(req.body as AsyncIterable<Uint8Array>, maxBytes + 1024);
    if (bytes === undefined) return handler(req);
    let reason: string | undefined;
    if (framed) reason = checkEnvelopes(bytes, Boolean(req.header.get("grpc-encoding")), decode);
    else {
      try {
        decode(bytes);
      } catch (err) {
        reason = err instanceof Error ? err.message : String(err);
      }
    }
    const contextValues = req.contextValues ?? createContextValues();
    if (reason !== undefined) contextValues.set(malformedMessageKey, reason);
    const body = reason === undefined ? bytes : emptyMessage(framed);
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

/** INVALID_ARGUMENT for a request message that does not decode, and why. */
export function malformedMessage(reason: string) {
  return serviceError(Code.InvalidArgument, "MALFORMED_MESSAGE", `the request message does not decode: ${reason}`);
}

/** Refuses a call whose binary message did not decode (see {@link malformedMessageKey}). */
export function createMalformedMessageInterceptor(): Interceptor {
  return (next) => async (req) => {
    const reason = req.contextValues.get(malformedMessageKey);
    if (reason !== undefined) throw malformedMessage(reason);
    return await next(req);
  };
}
