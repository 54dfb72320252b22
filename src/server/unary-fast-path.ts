import type { IncomingHttpHeaders } from "node:http";
import { create, type DescMessage, type DescMethodUnary } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  type ContextValues,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import {
  type Compression,
  compressionNegotiate,
  createMethodSerializationLookup,
  type MethodSerializationLookup,
} from "@connectrpc/connect/protocol";
import * as connect from "@connectrpc/connect/protocol-connect";
import * as grpc from "@connectrpc/connect/protocol-grpc";
import * as grpcWeb from "@connectrpc/connect/protocol-grpc-web";
import { principalKey } from "../auth/access-control.js";
import { defaultDeadlineExceeded } from "./call-interceptors.js";
import type { CallObserver } from "./call-observer.js";
import { type ConditionalRead, cacheHeaders, conditionalRead, sendNotModified } from "./conditional-reads.js";
import { encodeOnce } from "./encoding-memo.js";
import { grpcMessageEncode } from "./grpc-message.js";
import type { RequestHandler } from "./http-server.js";
import { malformedMessage } from "./malformed-messages.js";
import { requestIdKey } from "./request-id.js";
import { connectGetMessage, decompressRequest, parseRequestMessage } from "./request-messages.js";

type NodeRequest = Parameters<RequestHandler>[0];
type NodeResponse = Parameters<RequestHandler>[1];
type UnarySpec = Extract<MethodImplSpec, { kind: "unary" }>;

/** The three protocols, each as its wire format (binary or JSON) and the headers it names things with. */
interface Dialect {
  protocol: "grpc" | "grpc-web" | "connect";
  binary: boolean;
  /** The request is one enveloped message (gRPC, gRPC-Web) rather than a bare body (Connect unary). */
  enveloped: boolean;
  contentType: string;
  timeoutHeader: string;
  parseTimeout: typeof grpc.parseTimeout;
  encodingHeader: string;
  acceptEncodingHeader: string;
}

const dialects = (() => {
  const grpcCommon = {
    enveloped: true,
    timeoutHeader: grpc.headerTimeout.toLowerCase(),
    parseTimeout: grpc.parseTimeout,
    encodingHeader: grpc.headerEncoding.toLowerCase(),
    acceptEncodingHeader: grpc.headerAcceptEncoding.toLowerCase(),
  };
  const connectCommon = {
    protocol: "connect" as const,
    enveloped: false,
    timeoutHeader: connect.headerTimeout.toLowerCase(),
    parseTimeout: connect.parseTimeout,
    encodingHeader: connect.headerUnaryEncoding.toLowerCase(),
    acceptEncodingHeader: connect.headerUnaryAcceptEncoding.toLowerCase(),
  };
  const d = (dialect: Dialect) => dialect;
  return {
    grpcProto: d({ ...grpcCommon, protocol: "grpc", binary: true, contentType: grpc.contentTypeProto }),
    grpcJson: d({ ...grpcCommon, protocol: "grpc", binary: false, contentType: grpc.contentTypeJson }),
    grpcWebProto: d({ ...grpcCommon, protocol: "grpc-web", binary: true, contentType: grpcWeb.contentTypeProto }),
    grpcWebJson: d({ ...grpcCommon, protocol: "grpc-web", binary: false, contentType: grpcWeb.contentTypeJson }),
    connectProto: d({ ...connectCommon, binary: true, contentType: connect.contentTypeUnaryProto }),
    connectJson: d({ ...connectCommon, binary: false, contentType: connect.contentTypeUnaryJson }),
  };
})();

/**
 * The dialect of a POST by its content type, with connect's own parsers; undefined for what this path leaves to
 * the Connect router (streaming content types, gRPC-Web text, gRPC over HTTP/1.1, anything unknown).
 */
function dialectOf(contentType: string | undefined, http2: boolean): Dialect | undefined {
  if (!contentType) return undefined;
  if (contentType.startsWith("application/grpc-web")) {
    const type = grpcWeb.parseContentType(contentType);
    if (!type || type.text) return undefined;
    return type.binary ? dialects.grpcWebProto : dialects.grpcWebJson;
  }
  if (contentType.startsWith("application/grpc")) {
    // gRPC needs HTTP trailers, which only HTTP/2 carries well; the Connect router answers the rest.
    const type = http2 ? grpc.parseContentType(contentType) : undefined;
    if (!type) return undefined;
    return type.binary ? dialects.grpcProto : dialects.grpcJson;
  }
  const type = connect.parseContentType(contentType);
  if (!type || type.stream) return undefined;
  return type.binary ? dialects.connectProto : dialects.connectJson;
}

/**
 * A Connect GET of a method without side effects, in the dialect its `encoding` parameter names; undefined for
 * one the Connect router answers itself (405 for a method with side effects, 415 for an unknown encoding).
 */
function connectGetQuery(spec: UnarySpec, url: string): { dialect: Dialect; params: URLSearchParams } | undefined {
  if (spec.method.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS) return undefined;
  const start = url.indexOf("?");
  const params = new URLSearchParams(start < 0 ? "" : url.slice(start + 1));
  const encoding = params.get("encoding");
  const dialect = encoding === "proto" ? dialects.connectProto : encoding === "json" ? dialects.connectJson : undefined;
  return dialect && { dialect, params };
}

/**
 * The status of a gRPC or gRPC-Web answer, with connect's `setTrailerStatus` (status, details, error metadata) but
 * the message percent-encoded as the gRPC spec says: only bytes outside printable ASCII and "%" itself. connect
 * encodes with encodeURIComponent, which also escapes ":" and other reserved characters that grpc-js and
 * grpc-go then show escaped.
 */
function grpcStatus(trailer: Headers, error: ConnectError | undefined): Headers {
  grpc.setTrailerStatus(trailer, error);
  if (error) trailer.set("grpc-message", grpcMessageEncode(error.rawMessage));
  return trailer;
}

/** The frame flags of the enveloped protocols. */
const FLAG_COMPRESSED = 0b0000_0001;
const FLAG_TRAILER = 0b1000_0000;

function envelope(flags: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + payload.byteLength);
  frame[0] = flags;
  frame.writeUInt32BE(payload.byteLength, 1);
  frame.set(payload, 5);
  return frame;
}

/** The node headers of a request as fetch Headers, without HTTP/2 pseudo-headers. */
function webHeaders(headers: IncomingHttpHeaders): Headers {
  const result = new Headers();
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ":" */) continue;
    const value = headers[name];
    if (typeof value === "string") result.append(name, value);
    else if (Array.isArray(value)) for (const v of value) result.append(name, v);
  }
  return result;
}

/**
 * The request headers as fetch Headers, read straight from Node's (already lower-cased) header object: building a
 * Headers per call is a measurable share of a small call's allocations, and interceptors mostly `get` one or two.
 * Anything else — iteration, a change — works on a real Headers made from them on first use.
 */
class RequestHeaders implements Headers {
  #real: Headers | undefined;
  constructor(private readonly raw: IncomingHttpHeaders) {}
  #materialized(): Headers {
    this.#real ??= webHeaders(this.raw);
    return this.#real;
  }
  get(name: string): string | null {
    if (this.#real) return this.#real.get(name);
    const key = name.toLowerCase();
    if (key.charCodeAt(0) === 58) return null;
    const value = this.raw[key];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(", ") : value;
  }
  has(name: string): boolean {
    return this.get(name) !== null;
  }
  getSetCookie(): string[] {
    return this.#materialized().getSetCookie();
  }
  append(name: string, value: string): void {
    this.#materialized().append(name, value);
  }
  set(name: string, value: string): void {
    this.#materialized().set(name, value);
  }
  delete(name: string): void {
    this.#materialized().delete(name);
  }
  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    this.#materialized().forEach((value, key) => {
      callback.call(thisArg, value, key, this);
    });
  }
  entries(): ReturnType<Headers["entries"]> {
    return this.#materialized().entries();
  }
  keys(): ReturnType<Headers["keys"]> {
    return this.#materialized().keys();
  }
  values(): ReturnType<Headers["values"]> {
    return this.#materialized().values();
  }
  [Symbol.iterator](): ReturnType<Headers[typeof Symbol.iterator]> {
    return this.#materialized()[Symbol.iterator]();
  }
}

/** Response headers or trailers, made when first asked for: most calls set none. */
class LazyHeaders {
  #headers: Headers | undefined;
  get(): Headers {
    this.#headers ??= new Headers();
    return this.#headers;
  }
  /** Undefined when nothing asked for them. */
  get made(): Headers | undefined {
    return this.#headers;
  }
}

/** Node's header object of `headers` (of none: empty). */
function nodeHeaders(headers: Headers | undefined): Record<string, string> {
  const into: Record<string, string> = {};
  headers?.forEach((value, name) => {
    into[name] = value;
  });
  return into;
}

/** The trailer frame of a gRPC-Web answer without error or custom trailers. */
const GRPC_WEB_OK_TRAILER = envelope(FLAG_TRAILER, Buffer.from("grpc-status: 0\r\n"));

const tooLarge = (size: number | string, limit: number) =>
  new ConnectError(`message size ${size} is larger than the limit of ${limit} bytes`, Code.ResourceExhausted);

/** The request body, or a RESOURCE_EXHAUSTED error as soon as it passes `limit` bytes. */
function readBody(req: NodeRequest, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    const settle = (error: ConnectError | undefined) => {
      if (settled) return;
      settled = true;
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onAbort);
      req.off("close", onAbort);
      if (error) reject(error);
      else resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length));
    };
    const onData = (chunk: Buffer) => {
      length += chunk.byteLength;
      if (length > limit) settle(tooLarge(`over ${limit}`, limit));
      else chunks.push(chunk);
    };
    const onEnd = () => settle(undefined);
    const onAbort = () => settle(new ConnectError("the client went away", Code.Canceled));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onAbort);
    req.on("close", onAbort);
  });
}

/**
 * The one message of an enveloped unary request, decompressed. Zero or two messages are a protocol error
 * (UNIMPLEMENTED, as connect and gRPC answer); bad framing is INVALID_ARGUMENT.
 */
async function unwrapEnvelope(body: Buffer, compression: Compression | null, limit: number): Promise<Uint8Array> {
  if (body.byteLength === 0) {
    throw new ConnectError("protocol error: missing input message for unary method", Code.Unimplemented);
  }
  if (body.byteLength < 5) throw malformedMessage("incomplete frame header");
  const flags = body[0] ?? 0;
  const length = body.readUInt32BE(1);
  if (length > limit) throw tooLarge(length, limit);
  if (5 + length > body.byteLength) throw malformedMessage("the frame is shorter than its length prefix");
  if (5 + length < body.byteLength) {
    throw new ConnectError("protocol error: received extra input message for unary method", Code.Unimplemented);
  }
  if ((flags & ~FLAG_COMPRESSED) !== 0) throw malformedMessage(`frame flags ${flags} are not valid in a request`);
  const payload = body.subarray(5);
  if ((flags & FLAG_COMPRESSED) === 0) return payload;
  if (!compression) throw malformedMessage("a compressed frame without a grpc-encoding");
  return await decompressRequest(compression, payload, limit);
}

/** Options of {@link createUnaryFastPath}. */
export interface UnaryFastPathOptions {
  /** Every unary method served, with its implementation. */
  specs: readonly UnarySpec[];
  /** Run around every call, outermost first (the Connect router runs the same ones). */
  interceptors: readonly Interceptor[];
  observer: CallObserver;
  maxMessageBytes: number;
  /** A client deadline above this is refused with INVALID_ARGUMENT, as connect's `maxTimeoutMs`. */
  maxTimeoutMs: number;
  /** The deadline of a call whose client gave none. */
  defaultDeadlineMs: number;
  acceptCompression: readonly Compression[];
  /** Responses smaller than this are not compressed (connect's default: 1 KiB). */
  compressMinBytes: number;
  jsonOptions: Parameters<typeof createMethodSerializationLookup>[2];
  /** Aborts the signal of calls still running when the server gives up on them. */
  shutdownSignal: AbortSignal;
}

/** Ends the signal of a call that completed, so that work tied to it stops. */
const completed = new ConnectError("the call completed", Code.Canceled);

/**
 * A serving path for unary calls in the gRPC (HTTP/2), gRPC-Web and Connect protocols (POST, and GET for methods
 * without side effects) that reads the request and
 * writes the response directly on Node's request and response, with no per-call stream pipeline, abort controller
 * or timer chain: the measured cost of `connectNodeAdapter` (see bench/README.md). Protocol semantics stay
 * connect's wherever it exports them — content types, timeouts, compression negotiation, serialization limits,
 * gRPC status trailers, gRPC-Web trailer frames, Connect error JSON and trailer headers — and the same interceptors
 * run around the implementation. Requests it does not serve (streaming methods, unknown content types, GET
 * encodings or methods, gRPC over HTTP/1.1) return false and go to the Connect router.
 *
 * It also owns what the router's guard and default-deadline interceptor do on the other path: an undecodable
 * message is INVALID_ARGUMENT (MALFORMED_MESSAGE), a call without a client deadline gets the default one, and the
 * client is answered DEADLINE_EXCEEDED when its deadline passes even if the implementation is still running.
 * Every call, including one refused by the protocol layer, is accounted for by the call observer.
 */
export function createUnaryFastPath(options: UnaryFastPathOptions) {
  const limits = { readMaxBytes: options.maxMessageBytes, writeMaxBytes: options.maxMessageBytes };
  const routes = new Map<
    string,
    { spec: UnarySpec; serialization: MethodSerializationLookup<DescMessage, DescMessage>; path: string }
  >();
  for (const spec of options.specs) {
    const path = `/${spec.method.parent.typeName}/${spec.method.name}`;
    const serialization = createMethodSerializationLookup(spec.method, undefined, options.jsonOptions, limits);
    routes.set(path, { spec, serialization, path });
  }
  const available = [...options.acceptCompression];
  const { observer, maxMessageBytes } = options;

  return function serveUnary(req: NodeRequest, res: NodeResponse, contextValues: () => ContextValues): boolean {
    // HEAD is a GET whose body Node leaves out.
    const get = req.method === "GET" || req.method === "HEAD";
    if (req.method !== "POST" && !get) return false;
    const url = req.url ?? "";
    const route = routes.get(url.includes("?") ? (url.split("?", 1)[0] as string) : url);
    if (!route) return false;
    const query = get ? connectGetQuery(route.spec, url) : undefined;
    const dialect = query
      ? query.dialect
      : get
        ? undefined
        : dialectOf(req.headers["content-type"], req.httpVersionMajor === 2);
    if (!dialect) return false;
    const httpMethod = req.method as "GET" | "HEAD" | "POST";
    const { spec, serialization, path } = route;
    const method = spec.method as DescMethodUnary;
    const values = contextValues();
    const header = new RequestHeaders(req.headers);
    const responseHeader = new LazyHeaders();
    const responseTrailer = new LazyHeaders();
    const startedAt = observer.start();
    const requestId = values.get(requestIdKey);

    let controller: AbortController | undefined;
    let deadline: NodeJS.Timeout | undefined;
    let deadlineAt: number | undefined;
    let finished = false;
    const onGone = () => controller?.abort(new ConnectError("the client went away", Code.Canceled));
    const onShutdown = () => controller?.abort(options.shutdownSignal.reason);
    /** Created when first asked for: most calls never look at it. */
    const signal = () => {
      if (!controller) {
        controller = new AbortController();
        if (finished) controller.abort(completed);
        else {
          res.once("close", onGone);
          options.shutdownSignal.addEventListener("abort", onShutdown, { once: true });
          if (options.shutdownSignal.aborted) onShutdown();
        }
      }
      return controller.signal;
    };

    const compression = compressionNegotiate(
      available,
      query ? query.params.get("compression") : ((req.headers[dialect.encodingHeader] as string | undefined) ?? null),
      (req.headers[dialect.acceptEncodingHeader] as string | undefined) ?? null,
      dialect.acceptEncodingHeader,
    );

    /** Writes the answer once: the implementation's, an error's, or the deadline's, whichever comes first. */
    const finish = (message: Uint8Array | undefined, thrown: unknown, bodyRead: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      if (controller) {
        res.off("close", onGone);
        options.shutdownSignal.removeEventListener("abort", onShutdown);
        if (!controller.signal.aborted) controller.abort(completed);
      }
      const gone = res.writableEnded || ("stream" in res ? res.stream.destroyed : (res.socket?.destroyed ?? true));
      const error =
        thrown !== undefined
          ? observer.publicErrorOf(thrown, path, requestId)
          : gone
            ? new ConnectError("the client went away", Code.Canceled)
            : undefined;
      observer.finish({
        method: path,
        protocol: dialect.protocol === "grpc-web" ? "grpc_web" : dialect.protocol,
        httpMethod,
        keyId: values.get(principalKey)?.keyId,
        requestId,
        startedAt,
        error,
      });
      if (gone) return;
      // An HTTP/1.1 request whose body was not read to its end leaves the connection unusable.
      if (!bodyRead && req.httpVersionMajor === 1) res.setHeader("connection", "close");
      write(
        {
          res,
          dialect,
          header: responseHeader,
          trailer: responseTrailer,
          compression: compression.response,
          conditional: get ? conditionalRead(httpMethod, req.headers["if-none-match"], CONNECT_GET_VARY) : undefined,
        },
        message,
        error,
        options,
      );
    };

    const timeout = dialect.parseTimeout(
      (req.headers[dialect.timeoutHeader] as string | undefined) ?? null,
      options.maxTimeoutMs,
    );
    if (timeout.error) {
      finish(undefined, timeout.error, false);
      return true;
    }
    if (compression.error) {
      finish(undefined, compression.error, false);
      return true;
    }
    const timeoutMs = timeout.timeoutMs ?? options.defaultDeadlineMs;
    const deadlineError = () =>
      timeout.timeoutMs === undefined
        ? defaultDeadlineExceeded(options.defaultDeadlineMs)
        : new ConnectError("the operation timed out", Code.DeadlineExceeded);
    if (timeoutMs <= 0) {
      finish(undefined, deadlineError(), false);
      return true;
    }
    let bodyRead = false;
    deadlineAt = performance.now() + timeoutMs;
    deadline = setTimeout(() => {
      const error = deadlineError();
      controller?.abort(error);
      finish(undefined, error, bodyRead);
    }, timeoutMs);

    const declared = Number(req.headers["content-length"]);
    const bodyLimit = dialect.enveloped ? maxMessageBytes + 5 : maxMessageBytes;
    if (declared > bodyLimit) {
      finish(undefined, tooLarge(declared, maxMessageBytes), false);
      return true;
    }

    // A GET carries its message in the query; a body sent with it is read and ignored, as connect does.
    (get
      ? readBody(req, bodyLimit).then(() => connectGetMessage(query?.params as URLSearchParams))
      : readBody(req, bodyLimit)
    )
      .then(async (body) => {
        bodyRead = true;
        const bytes = dialect.enveloped
          ? await unwrapEnvelope(body as Buffer, compression.request, maxMessageBytes)
          : compression.request
            ? await decompressRequest(compression.request, body, maxMessageBytes)
            : body;
        if (bytes.byteLength > maxMessageBytes) throw tooLarge(bytes.byteLength, maxMessageBytes);
        // connect would answer INTERNAL for an undecodable binary message and let impossible dates roll over.
        const input = parseRequestMessage(method.input, dialect.binary, bytes);
        const request: UnaryRequest = {
          stream: false,
          service: method.parent,
          method,
          requestMethod: httpMethod,
          get url() {
            return `http://${req.headers.host ?? req.headers[":authority"] ?? "localhost"}${url}`;
          },
          header,
          contextValues: values,
          message: input as UnaryRequest["message"],
          get signal() {
            return signal();
          },
        };
        const handlerContext = (r: UnaryRequest): HandlerContext => ({
          method,
          service: method.parent,
          requestMethod: httpMethod,
          protocolName: dialect.protocol,
          get url() {
            return r.url;
          },
          requestHeader: r.header,
          get responseHeader() {
            return responseHeader.get();
          },
          get responseTrailer() {
            return responseTrailer.get();
          },
          values: r.contextValues,
          timeoutMs: () => (deadlineAt === undefined ? undefined : deadlineAt - performance.now()),
          get signal() {
            return r === request ? signal() : r.signal;
          },
        });
        let implemented: UnaryResponse | undefined;
        const invoke = async (r: UnaryRequest | { stream: true }): Promise<UnaryResponse> => {
          const output = await spec.impl((r as UnaryRequest).message, handlerContext(r as UnaryRequest));
          implemented = {
            stream: false,
            service: method.parent,
            method,
            get header() {
              return responseHeader.get();
            },
            get trailer() {
              return responseTrailer.get();
            },
            message: create(method.output, output),
          };
          return implemented;
        };
        let next = invoke as (r: UnaryRequest) => Promise<UnaryResponse>;
        for (let i = options.interceptors.length - 1; i >= 0; i--) {
          next = (options.interceptors[i] as Interceptor)(next as never) as never;
        }
        const response = await next(request);
        // An interceptor that answered with its own response: its headers and trailers are the ones to send.
        if (response !== implemented) {
          copyInto(response.header, responseHeader.get());
          copyInto(response.trailer, responseTrailer.get());
        }
        const output = serialization.getO(dialect.binary);
        return encodeOnce(response.message, dialect.binary ? "binary" : "json", () =>
          output.serialize(response.message),
        );
      })
      .then(
        (message) => finish(message, undefined, true),
        (err: unknown) => finish(undefined, err, bodyRead),
      );
    return true;
  };
}

function copyInto(from: Headers, to: Headers) {
  if (from === to) return;
  from.forEach((value, name) => {
    to.set(name, value);
  });
}

/** Where and how a call answers. */
interface Answer {
  res: NodeResponse;
  dialect: Dialect;
  header: LazyHeaders;
  trailer: LazyHeaders;
  /** The response compression negotiated with the client, if any. */
  compression: Compression | null;
  /** A Connect GET: answered with an ETag and caching headers, or 304 (see conditional-reads.ts). */
  conditional: ConditionalRead | undefined;
}

/** A Connect GET's body depends on whose key asks, and on the compression its Accept-Encoding negotiates. */
const CONNECT_GET_VARY = ["Authorization", "Accept-Encoding"] as const;

/** Writes a unary answer — a serialized message or an error — in the call's protocol. */
function write(
  answer: Answer,
  message: Uint8Array | undefined,
  error: ConnectError | undefined,
  options: Pick<UnaryFastPathOptions, "compressMinBytes" | "jsonOptions">,
) {
  const { compression } = answer;
  const compressing = compression && message && !error && message.byteLength >= options.compressMinBytes;
  if (answer.conditional) {
    const body = error ? undefined : message;
    const headers = answer.header.get();
    if (cacheHeaders(answer.res, headers, answer.conditional, body, compressing ? compression.name : undefined)) {
      // The client's copy is current: nothing to compress or send.
      return sendNotModified(answer.res, nodeHeaders(headers));
    }
  }
  if (compressing) {
    compression.compress(message).then(
      (compressed) => send(answer, compressed, compression.name, undefined, options),
      (err: unknown) => send(answer, undefined, undefined, ConnectError.from(err), options),
    );
  } else send(answer, message, undefined, error, options);
}

/** The gRPC status trailers of an answer, as Node headers. */
function grpcTrailers(trailer: LazyHeaders, error: ConnectError | undefined): Record<string, string> {
  if (!error && !trailer.made) return { "grpc-status": grpc.grpcStatusOk };
  return nodeHeaders(grpcStatus(trailer.get(), error));
}

function send(
  { res, dialect, header, trailer, compression }: Answer,
  message: Uint8Array | undefined,
  /** The encoding `message` is compressed with, if it is. */
  encoding: string | undefined,
  error: ConnectError | undefined,
  options: Pick<UnaryFastPathOptions, "jsonOptions">,
) {
  const flags = encoding ? FLAG_COMPRESSED : 0;
  switch (dialect.protocol) {
    case "grpc": {
      const headers = nodeHeaders(header.made);
      headers["content-type"] = dialect.contentType;
      if (compression) headers[dialect.encodingHeader] = compression.name;
      res.writeHead(200, headers);
      res.addTrailers(grpcTrailers(trailer, error));
      if (message && !error) res.end(envelope(flags, message));
      else res.end();
      return;
    }
    case "grpc-web": {
      const headers = nodeHeaders(header.made);
      headers["content-type"] = dialect.contentType;
      if (compression) headers[dialect.encodingHeader] = compression.name;
      const trailerFrame =
        !error && !trailer.made
          ? GRPC_WEB_OK_TRAILER
          : envelope(FLAG_TRAILER, grpcWeb.trailerSerialize(grpcStatus(trailer.get(), error)));
      const body = message && !error ? Buffer.concat([envelope(flags, message), trailerFrame]) : trailerFrame;
      headers["content-length"] = String(body.byteLength);
      res.writeHead(200, headers);
      res.end(body);
      return;
    }
    case "connect": {
      let status = 200;
      let body: Uint8Array;
      let headers: Record<string, string>;
      if (error || !message) {
        const shown = error ?? new ConnectError("internal error", Code.Internal);
        status = connect.codeToHttpStatus(shown.code);
        const all = header.get();
        shown.metadata.forEach((value, name) => {
          all.set(name, value);
        });
        all.set("content-type", connect.contentTypeUnaryJson);
        headers = nodeHeaders(trailer.made ? connect.trailerMux(all, trailer.get()) : all);
        body = connect.errorToJsonBytes(shown, options.jsonOptions ?? {});
      } else {
        headers = nodeHeaders(trailer.made ? connect.trailerMux(header.get(), trailer.get()) : header.made);
        headers["content-type"] = dialect.contentType;
        if (encoding) headers[dialect.encodingHeader] = encoding;
        body = message;
      }
      headers["content-length"] = String(body.byteLength);
      res.writeHead(status, headers);
      res.end(body);
      return;
    }
  }
}
