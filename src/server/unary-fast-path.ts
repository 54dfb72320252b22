import { create, type DescMessage, type DescMethodUnary } from "@bufbuild/protobuf";
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
import { copyInto, LazyHeaders, RequestHeaders } from "./call-headers.js";
import { clientDeadlineMs, refusalKey } from "./call-interceptors.js";
import { conditionalRead } from "./conditional-reads.js";
import {
  type Compression,
  compressionNegotiate,
  createMethodSerializationLookup,
  type MethodSerializationLookup,
} from "./connect-internals.js";
import { encodeOnce } from "./encoding-memo.js";
import type { RequestHandler } from "./http-server.js";
import { StreamRequest, StreamResponse } from "./http2-streams.js";
import {
  connectGetMessage,
  decompressRequest,
  messageTooLarge,
  parseRequestMessage,
  readRequestBody,
  unwrapRequestEnvelope,
} from "./request-messages.js";
import { type AnswerOptions, CONNECT_GET_VARY, write } from "./unary-answers.js";
import { connectGetQuery, dialectOf } from "./unary-dialects.js";

/** Node's request (HTTP/1.1, or HTTP/2 through its compatibility layer), or a raw HTTP/2 stream's. */
type NodeRequest = Parameters<RequestHandler>[0] | StreamRequest;
type NodeResponse = Parameters<RequestHandler>[1] | StreamResponse;
type UnarySpec = Extract<MethodImplSpec, { kind: "unary" }>;

/** Options of {@link createUnaryFastPath}. */
export interface UnaryFastPathOptions extends AnswerOptions {
  /** Every unary method served, with its implementation. */
  specs: readonly UnarySpec[];
  /** THE interceptors of every call, outermost first: the Connect router runs the same list (call-interceptors.ts). */
  interceptors: readonly Interceptor[];
  maxMessageBytes: number;
  /** A client deadline above this is refused with INVALID_ARGUMENT, as connect's `maxTimeoutMs`. */
  maxTimeoutMs: number;
  /** The deadline of a call whose client gave none (enforced by the deadline interceptor; told to handlers). */
  defaultDeadlineMs: number;
  acceptCompression: readonly Compression[];
  /** Aborts the signal of calls still running when the server gives up on them. */
  shutdownSignal: AbortSignal;
}

/** Ends the signal of a call that completed, so that work tied to it stops. */
const completed = new ConnectError("the call completed", Code.Canceled);

/** What reading a request gave: its message, or why the transport refuses the call. */
type Read = { input: unknown; refusal?: undefined } | { input?: undefined; refusal: ConnectError };

/**
 * A serving path for unary calls in the gRPC (HTTP/2), gRPC-Web and Connect protocols (POST, and GET for methods
 * without side effects) that reads the request and writes the response directly on Node's request and response,
 * with no per-call stream pipeline, abort controller or timer chain: the measured cost of `connectNodeAdapter` (see
 * bench/README.md). Protocol semantics stay connect's wherever it exports them — content types, timeouts,
 * compression negotiation, serialization limits, gRPC status trailers, gRPC-Web trailer frames, Connect error JSON
 * and trailer headers — and **the same interceptors** as the Connect router run around the implementation
 * (call-interceptors.ts): a request the protocol layer refuses (a malformed deadline or message, an unsupported
 * encoding, an oversize body) is refused inside them, through {@link refusalKey}, so it is logged and counted like
 * any other call. Requests it does not serve (streaming methods, unknown content types, GET encodings or methods,
 * gRPC over HTTP/1.1) return false and go to the Connect router.
 */
export function createUnaryFastPath(options: UnaryFastPathOptions) {
  const limits = { readMaxBytes: options.maxMessageBytes, writeMaxBytes: options.maxMessageBytes };
  const routes = new Map<
    string,
    { spec: UnarySpec; serialization: MethodSerializationLookup<DescMessage, DescMessage> }
  >();
  for (const spec of options.specs) {
    const path = `/${spec.method.parent.typeName}/${spec.method.name}`;
    const serialization = createMethodSerializationLookup(spec.method, undefined, options.jsonOptions, limits);
    routes.set(path, { spec, serialization });
  }
  const available = [...options.acceptCompression];
  const { maxMessageBytes } = options;
  const interceptors = [...options.interceptors];

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
    const { spec, serialization } = route;
    const method = spec.method as DescMethodUnary;
    const values = contextValues();
    const header = new RequestHeaders(req.headers);
    const responseHeader = new LazyHeaders();
    const responseTrailer = new LazyHeaders();

    let controller: AbortController | undefined;
    let finished = false;
    let bodyRead = false;
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

    const conditional = get ? conditionalRead(httpMethod, req.headers["if-none-match"], CONNECT_GET_VARY) : undefined;
    /** Writes the answer once: the interceptors' — the implementation's, an error, the deadline's. */
    const finish = (message: Uint8Array | undefined, error: ConnectError | undefined) => {
      if (finished) return;
      finished = true;
      if (controller) {
        res.off("close", onGone);
        options.shutdownSignal.removeEventListener("abort", onShutdown);
        if (!controller.signal.aborted) controller.abort(completed);
      }
      const gone = res.writableEnded || ("stream" in res ? res.stream.destroyed : (res.socket?.destroyed ?? true));
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
          conditional: conditional && !(res instanceof StreamResponse) ? { read: conditional, res } : undefined,
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
    const declared = Number(req.headers["content-length"]);
    const bodyLimit = dialect.enveloped ? maxMessageBytes + 5 : maxMessageBytes;
    const refusedAtOnce =
      timeout.error ??
      compression.error ??
      (declared > bodyLimit ? messageTooLarge(declared, maxMessageBytes) : undefined);

    const read: Promise<Read> = refusedAtOnce
      ? Promise.resolve({ refusal: refusedAtOnce })
      : // A GET carries its message in the query; a body sent with it is read and ignored, as connect does.
        (get
          ? readRequestBody(req instanceof StreamRequest ? req.stream : req, bodyLimit).then(() =>
              connectGetMessage(query?.params as URLSearchParams),
            )
          : readRequestBody(req instanceof StreamRequest ? req.stream : req, bodyLimit)
        )
          .then(async (body) => {
            bodyRead = true;
            const bytes = dialect.enveloped
              ? await unwrapRequestEnvelope(body as Buffer, compression.request, maxMessageBytes, "unary")
              : compression.request
                ? await decompressRequest(compression.request, body, maxMessageBytes)
                : body;
            if (bytes.byteLength > maxMessageBytes) throw messageTooLarge(bytes.byteLength, maxMessageBytes);
            // connect would answer INTERNAL for an undecodable binary message and let impossible dates roll over.
            return { input: parseRequestMessage(method.input, dialect.binary, bytes) };
          })
          .catch((err: unknown) => ({ refusal: ConnectError.from(err, Code.Internal) }));

    read
      .then(async ({ input, refusal }) => {
        if (refusal) values.set(refusalKey, refusal);
        const deadlineAt = performance.now() + (clientDeadlineMs(header) ?? options.defaultDeadlineMs);
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
          message: (input ?? create(method.input)) as UnaryRequest["message"],
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
          timeoutMs: () => deadlineAt - performance.now(),
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
        for (let i = interceptors.length - 1; i >= 0; i--) {
          next = (interceptors[i] as Interceptor)(next as never) as never;
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
        (message) => finish(message, undefined),
        // The interceptors already made any error public (call-interceptors.ts).
        (err: unknown) => finish(undefined, ConnectError.from(err, Code.Internal)),
      );
    return true;
  };
}
