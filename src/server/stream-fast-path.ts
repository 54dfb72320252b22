import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { create, type DescMessage, type DescMethodServerStreaming, isMessage } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
  type StreamRequest,
  type StreamResponse,
} from "@connectrpc/connect";
import { copyInto, nodeHeaders, RequestHeaders } from "./call-headers.js";
import { refusalKey } from "./call-interceptors.js";
import { type Compression, compressionNegotiate, createMethodSerializationLookup, grpc } from "./connect-internals.js";
import { envelope, FLAG_COMPRESSED } from "./envelopes.js";
import { grpcMessageEncode } from "./grpc-message.js";
import { drained } from "./http2-streams.js";
import {
  inputMessageCount,
  messageTooLarge,
  parseRequestMessage,
  readRequestBody,
  unwrapRequestEnvelope,
} from "./request-messages.js";

type ServerStreamSpec = Extract<MethodImplSpec, { kind: "server_streaming" }>;
type Serializer = ReturnType<ReturnType<typeof createMethodSerializationLookup>["getO"]>;

/** How long a stream may wait for its client to read before it is reset (see `stallMs`). */
export const DEFAULT_STALL_MS = 10_000;

/** Options of {@link createServerStreamFastPath}. */
export interface ServerStreamFastPathOptions {
  /** Every server-streaming method served, with its implementation. */
  specs: readonly ServerStreamSpec[];
  /** THE interceptors of every call, outermost first: the Connect router runs the same list (call-interceptors.ts). */
  interceptors: readonly Interceptor[];
  maxMessageBytes: number;
  /** A client deadline above this is refused with INVALID_ARGUMENT, as connect's `maxTimeoutMs`. */
  maxTimeoutMs: number;
  acceptCompression: readonly Compression[];
  /** Responses smaller than this are not compressed (connect's default: 1 KiB). */
  compressMinBytes: number;
  /** Aborts the signal of streams still open when the server gives up on them. */
  shutdownSignal: AbortSignal;
  /**
   * A stream whose client has not read what was written for this long is reset with ENHANCE_YOUR_CALM (gRPC clients
   * report RESOURCE_EXHAUSTED), so that a client that stops reading holds a bounded buffer for a bounded time.
   */
  stallMs?: number;
}

/** Ends the signal of a call that completed, so that work tied to it stops. */
const completed = new ConnectError("the call completed", Code.Canceled);
const gone = () => new ConnectError("the client went away", Code.Canceled);

/** The gRPC status trailers of a stream, with the message percent-encoded as the gRPC spec says (see unary-answers). */
function grpcTrailers(trailer: Headers, error: ConnectError | undefined): Record<string, string> {
  grpc.setTrailerStatus(trailer, error);
  if (error) trailer.set(grpc.headerGrpcMessage, grpcMessageEncode(error.rawMessage));
  return nodeHeaders(trailer);
}

/**
 * The frame of each message, made once per message object and response encoding: WatchEvents hands the same
 * message to every binary watcher (see event-feed.ts `sharedEncoding`), so thousands of streams write one buffer.
 * Messages are never changed once yielded (every handler yields a message it made for that yield, or a shared one).
 */
function createFrames(compressMinBytes: number) {
  const plain = new WeakMap<object, Buffer>();
  const compressed = new Map<string, WeakMap<object, Promise<Buffer>>>();
  const plainFrame = (message: object, serializer: Serializer) => {
    let frame = plain.get(message);
    if (!frame) {
      frame = envelope(0, serializer.serialize(message as never));
      plain.set(message, frame);
    }
    return frame;
  };
  return function frameOf(
    message: object,
    serializer: Serializer,
    compression: Compression | null,
  ): Buffer | Promise<Buffer> {
    const frame = plainFrame(message, serializer);
    if (!compression || frame.byteLength - 5 < compressMinBytes) return frame;
    let byMessage = compressed.get(compression.name);
    if (!byMessage) {
      byMessage = new WeakMap();
      compressed.set(compression.name, byMessage);
    }
    let pending = byMessage.get(message);
    if (!pending) {
      pending = compression.compress(frame.subarray(5)).then((bytes) => envelope(FLAG_COMPRESSED, bytes));
      byMessage.set(message, pending);
    }
    return pending;
  };
}

/** Stops a response stream with `err` passed into it (so that the interceptors see it), giving what it ended with. */
async function abandon(it: AsyncIterator<unknown>, err: unknown): Promise<unknown> {
  try {
    const step = await it.throw?.(err);
    if (step && !step.done) await it.return?.();
  } catch (thrown) {
    return thrown;
  }
  return err;
}

const inputCount = (what: "missing" | "received extra") => inputMessageCount(what, "server-streaming");

/** The one request message of an iterable an interceptor put in place of the request's. */
async function single(messages: AsyncIterable<unknown>): Promise<unknown> {
  const it = messages[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) throw inputCount("missing");
  if (!(await it.next()).done) throw inputCount("received extra");
  return first.value;
}

/**
 * A serving path for server-streaming calls in gRPC over HTTP/2 with the binary format, straight on the session's
 * raw stream (see http2-streams.ts): no compatibility-layer request and response, and none of connect's per-call
 * async-iterable pipeline (split, parse, serialize, join, each a generator a message passes through). Messages are
 * framed once per message object and written as they come, with backpressure: a write the client has not taken
 * waits for `drain`, and a client that reads nothing for `stallMs` is reset. Protocol semantics stay connect's —
 * content type, timeouts, compression negotiation, serialization limits, status trailers — and **the same
 * interceptors** as the Connect router run around the implementation (call-interceptors.ts), seeing the call as
 * connect shows them a server stream (`stream: true`, the request message as an iterable, the response messages as
 * one); a request the protocol layer refuses is refused inside them (see {@link refusalKey}). Returns false for
 * anything else (gRPC-Web, Connect, JSON, another kind of method), left to the Connect router.
 */
export function createServerStreamFastPath(options: ServerStreamFastPathOptions) {
  const limits = { readMaxBytes: options.maxMessageBytes, writeMaxBytes: options.maxMessageBytes };
  const routes = new Map<string, { spec: ServerStreamSpec; serializer: Serializer }>();
  for (const spec of options.specs) {
    const serialization = createMethodSerializationLookup(spec.method, undefined, undefined, limits);
    routes.set(`/${spec.method.parent.typeName}/${spec.method.name}`, { spec, serializer: serialization.getO(true) });
  }
  const interceptors = [...options.interceptors];
  const available = [...options.acceptCompression];
  const stallMs = options.stallMs ?? DEFAULT_STALL_MS;
  const frameOf = createFrames(options.compressMinBytes);
  /** The open calls' aborts, run when the server gives up on them: one listener, not one per stream. */
  const open = new Set<(reason: unknown) => void>();
  options.shutdownSignal.addEventListener("abort", () => {
    for (const abort of open) abort(options.shutdownSignal.reason);
  });

  return function serveServerStream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    responseHeaders: OutgoingHttpHeaders,
    contextValues: () => ContextValues,
  ): boolean {
    if (headers[":method"] !== "POST") return false;
    const route = routes.get(headers[":path"] ?? "");
    if (!route) return false;
    const contentType = headers["content-type"];
    // gRPC+JSON is left to the router; so are gRPC-Web (its own content type) and Connect.
    if (!contentType?.startsWith("application/grpc") || !grpc.parseContentType(contentType)?.binary) return false;
    serve(route.spec, route.serializer, stream, headers, responseHeaders, contextValues()).catch(() => {
      // Only a stream that broke under the writes can get here: there is nothing left to answer on.
      if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    });
    return true;
  };

  async function serve(
    spec: ServerStreamSpec,
    serializer: Serializer,
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    responseHeaders: OutgoingHttpHeaders,
    values: ContextValues,
  ) {
    const method = spec.method as DescMethodServerStreaming;
    const controller = new AbortController();
    const abort = (reason: unknown) => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    let finished = false;
    const onClose = () => abort(gone());
    stream.once("close", onClose);
    open.add(abort);
    if (options.shutdownSignal.aborted) abort(options.shutdownSignal.reason);

    const compression = compressionNegotiate(
      available,
      (headers[grpc.headerEncoding.toLowerCase()] as string | undefined) ?? null,
      (headers[grpc.headerAcceptEncoding.toLowerCase()] as string | undefined) ?? null,
      grpc.headerAcceptEncoding,
    );
    const timeout = grpc.parseTimeout(
      (headers[grpc.headerTimeout.toLowerCase()] as string | undefined) ?? null,
      options.maxTimeoutMs,
    );
    // As connect's router: a server stream has the client's deadline, if any; the server's default is for unary calls.
    let deadline: NodeJS.Timeout | undefined;
    const deadlineAt = timeout.timeoutMs === undefined ? undefined : performance.now() + timeout.timeoutMs;
    if (timeout.timeoutMs !== undefined) {
      deadline = setTimeout(
        abort,
        timeout.timeoutMs,
        new ConnectError("the operation timed out", Code.DeadlineExceeded),
      );
    }
    const responseHeader = new Headers();
    const responseTrailer = new Headers();
    let headersSent = false;
    const respondHeaders = () => {
      headersSent = true;
      const out: OutgoingHttpHeaders = { ...responseHeaders, ...nodeHeaders(responseHeader) };
      out[":status"] = 200;
      out["content-type"] = grpc.contentTypeProto;
      if (compression.response) out[grpc.headerEncoding.toLowerCase()] = compression.response.name;
      return out;
    };
    const finish = (error: ConnectError | undefined) => {
      finished = true;
      clearTimeout(deadline);
      open.delete(abort);
      stream.off("close", onClose);
      // A stream that ended quietly because its call was aborted (deadline, shutdown) tells the client why.
      const reason: unknown = controller.signal.reason;
      const shown = error ?? (reason instanceof ConnectError ? reason : undefined);
      abort(completed);
      if (stream.destroyed || stream.closed) return;
      const trailers = grpcTrailers(responseTrailer, shown);
      if (!headersSent) {
        // Trailers-Only: one HEADERS frame with the status, as gRPC answers a call that sent no message.
        stream.respond(Object.assign(respondHeaders(), trailers), { endStream: true });
        return;
      }
      stream.once("wantTrailers", () => {
        if (!stream.destroyed) stream.sendTrailers(trailers);
      });
      stream.end();
      // The trailers wait behind what the client has not read: it gets as long to read them as any write.
      if (stream.writableLength > 0) {
        const timer = setTimeout(() => stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM), stallMs);
        stream.once("close", () => clearTimeout(timer));
      }
    };

    try {
      const { input, refusal } = await readRequest(method, stream, headers, compression, timeout.error);
      if (refusal) values.set(refusalKey, refusal);
      const request = requestOf(method, headers, values, controller.signal, input);
      const handlerContext = (r: StreamRequest): HandlerContext => ({
        method,
        service: method.parent,
        requestMethod: "POST",
        protocolName: "grpc",
        url: r.url,
        requestHeader: r.header,
        responseHeader,
        responseTrailer,
        values: r.contextValues,
        timeoutMs: () => (deadlineAt === undefined ? undefined : deadlineAt - performance.now()),
        signal: r.signal,
      });
      const invoke = async (r: StreamRequest): Promise<StreamResponse> => {
        const message = r.message === request.message ? input : await single(r.message);
        return {
          stream: true,
          service: method.parent,
          method,
          header: responseHeader,
          trailer: responseTrailer,
          message: spec.impl(message as never, handlerContext(r)) as AsyncIterable<never>,
        };
      };
      let next = invoke as (r: StreamRequest) => Promise<StreamResponse>;
      for (let i = interceptors.length - 1; i >= 0; i--) {
        next = (interceptors[i] as Interceptor)(next as never) as never;
      }
      const response = await next(request);
      // An interceptor that answered with its own response: its headers are the ones to send.
      copyInto(response.header, responseHeader);
      await writeMessages(response.message[Symbol.asyncIterator](), stream, method.output, {
        serializer,
        compression: compression.response,
        beforeFirst: () => stream.respond(respondHeaders(), { waitForTrailers: true }),
        onStall: (error) => {
          abort(error);
          stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
        },
      });
      copyInto(response.trailer, responseTrailer);
      finish(undefined);
    } catch (err) {
      // The interceptors already made any error public (call-interceptors.ts).
      if (!finished) finish(ConnectError.from(err, Code.Internal));
    }
  }

  /**
   * Writes the messages of `it` as frames until it ends, the stream closes (the iterator is returned: the call
   * was canceled) or a write fails (passed into the iterator, then thrown).
   */
  async function writeMessages(
    it: AsyncIterator<unknown>,
    stream: ServerHttp2Stream,
    output: DescMessage,
    how: {
      serializer: Serializer;
      compression: Compression | null;
      beforeFirst: () => void;
      onStall: (error: ConnectError) => void;
    },
  ) {
    let first = true;
    const closed = () => stream.destroyed || stream.closed;
    for (;;) {
      // A stream its client closed asks for no more: returned, its implementation's `finally` runs now.
      if (closed()) {
        await it.return?.();
        return;
      }
      const step = await it.next();
      if (step.done) return;
      if (closed()) {
        await it.return?.();
        return;
      }
      try {
        // As connect normalizes what an implementation yields: an init object is made a message.
        const value = step.value as object;
        const message = isMessage(value, output) ? value : create(output, value as Record<string, unknown>);
        const made = frameOf(message, how.serializer, how.compression);
        const frame = made instanceof Buffer ? made : await made;
        if (closed()) continue;
        if (first) {
          first = false;
          how.beforeFirst();
        }
        if (!stream.write(frame) && !(await drained(stream, stallMs))) {
          const stalled = new ConnectError(
            `the client read nothing of the stream for ${stallMs} ms`,
            Code.ResourceExhausted,
          );
          how.onStall(stalled);
          throw stalled;
        }
      } catch (err) {
        throw await abandon(it, err);
      }
    }
  }

  /** The request message, or why the transport refuses the call. */
  async function readRequest(
    method: DescMethodServerStreaming,
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    compression: ReturnType<typeof compressionNegotiate>,
    timeoutError: ConnectError | undefined,
  ): Promise<{ input: unknown; refusal?: ConnectError }> {
    const limit = options.maxMessageBytes;
    const declared = Number(headers["content-length"]);
    try {
      if (timeoutError ?? compression.error) throw timeoutError ?? compression.error;
      if (declared > limit + 5) throw messageTooLarge(declared, limit);
      const body = await readRequestBody(stream, limit + 5);
      const bytes = await unwrapRequestEnvelope(body, compression.request, limit, "server-streaming");
      if (bytes.byteLength > limit) throw messageTooLarge(bytes.byteLength, limit);
      return { input: parseRequestMessage(method.input, true, bytes) };
    } catch (err) {
      return { input: create(method.input), refusal: ConnectError.from(err, Code.Internal) };
    }
  }
}

/** The request as interceptors see a server-streaming call: its one message as an iterable. */
function requestOf(
  method: DescMethodServerStreaming,
  headers: IncomingHttpHeaders,
  values: ContextValues,
  signal: AbortSignal,
  input: unknown,
): StreamRequest {
  const path = headers[":path"] ?? "";
  return {
    stream: true,
    service: method.parent,
    method,
    requestMethod: "POST",
    get url() {
      return `http://${headers[":authority"] ?? headers.host ?? "localhost"}${path}`;
    },
    header: new RequestHeaders(headers),
    contextValues: values,
    signal,
    message: {
      [Symbol.asyncIterator]: async function* () {
        yield input;
      },
    } as StreamRequest["message"],
  };
}
