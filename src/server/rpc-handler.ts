import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import type {
  ConnectRouter,
  ConnectRouterOptions,
  ContextValues,
  Interceptor,
  MethodImplSpec,
} from "@connectrpc/connect";
import { createConnectRouter, createServiceImplSpec } from "@connectrpc/connect";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { Logger } from "pino";
import type { UniversalHandler, UniversalServerResponse } from "./connect-internals.js";
import type { RequestHandler } from "./http-server.js";
import { StreamRequest, StreamResponse } from "./http2-streams.js";
import { guardMalformedMessages } from "./malformed-messages.js";
import { createNotServed } from "./not-served.js";
import { createServerStreamFastPath } from "./stream-fast-path.js";
import { createUnaryFastPath } from "./unary-fast-path.js";

type NodeRequest = Parameters<RequestHandler>[0];
type NodeResponse = Parameters<RequestHandler>[1];

/**
 * The response with its body ended when the Node response closes before it finished. connect-node's writer waits
 * for a write to a stream the client has reset, which never completes: a server stream that had yielded that
 * message would stay paused there for good (a watcher never freed). Ending the body runs the stream's `finally`.
 */
function endedOnClose(uRes: UniversalServerResponse, res: NodeResponse): UniversalServerResponse {
  const { body } = uRes;
  if (body === undefined || !(Symbol.asyncIterator in body)) return uRes;
  const iterator = body[Symbol.asyncIterator]();
  res.once("close", () => {
    if (!res.writableFinished) iterator.return?.().catch(() => {});
  });
  return { ...uRes, body: { [Symbol.asyncIterator]: () => iterator } };
}

/**
 * Serves a request when its path is a method (returns false otherwise); `notFound` answers one whose path is no
 * method nor any other route, with a body that says what paths are.
 */
export type RpcHandler = ((req: NodeRequest, res: NodeResponse) => boolean) & {
  notFound(req: NodeRequest, res: NodeResponse): void;
  /**
   * Serves an HTTP/2 POST straight from its stream (see http2-streams.ts) — a unary call the unary fast path takes,
   * or a binary gRPC server stream (see stream-fast-path.ts) — answering with `responseHeaders` too; returns false
   * for anything else, left to Node's compatibility layer.
   */
  stream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    responseHeaders: OutgoingHttpHeaders,
    contextValues: () => ContextValues,
  ): boolean;
};

/** Connect's default: responses under 1 KiB are not worth compressing. */
const COMPRESS_MIN_BYTES = 1024;

/**
 * The Node request handler of the RPCs. Unary calls go through the {@link createUnaryFastPath unary fast path},
 * and HTTP/2 binary gRPC server streams (`stream`) through the {@link createServerStreamFastPath stream fast path},
 * both running the router's interceptors; everything else (other streams, what the fast paths leave) goes to the
 * Connect router, as `connectNodeAdapter` would serve it, with the handler of every method that takes a single
 * request message wrapped by {@link guardMalformedMessages}, so that what does not decode is INVALID_ARGUMENT there
 * too, and the router's empty 415 and 405 answers given a body that says what to do (see not-served.ts). Returns
 * false for a path that is no RPC.
 */
export function createRpcHandler(options: {
  routes: (router: ConnectRouter) => void;
  /** The router's options; its interceptors are THE list, run on the unary fast path too. */
  router: ConnectRouterOptions & { shutdownSignal: AbortSignal; interceptors: Interceptor[] };
  maxMessageBytes: number;
  maxDeadlineMs: number;
  defaultDeadlineMs: number;
  /** How long a server stream waits for its client to read before it is reset (stream-fast-path.ts's default). */
  streamStallMs?: number;
  contextValues: (req: NodeRequest) => ContextValues;
  logger: Logger;
}): RpcHandler {
  const acceptCompression = [compressionGzip, compressionBrotli];
  const router = createConnectRouter({
    acceptCompression,
    compressMinBytes: COMPRESS_MIN_BYTES,
    ...options.router,
  });
  const unarySpecs: Extract<MethodImplSpec, { kind: "unary" }>[] = [];
  const serverStreamSpecs: Extract<MethodImplSpec, { kind: "server_streaming" }>[] = [];
  options.routes({
    get handlers() {
      return router.handlers;
    },
    service(service: DescService, impl: Parameters<ConnectRouter["service"]>[1], serviceOptions) {
      const spec = createServiceImplSpec(service, impl);
      for (const method of Object.values(spec.methods)) {
        if (method.kind === "unary") unarySpecs.push(method);
        else if (method.kind === "server_streaming") serverStreamSpecs.push(method);
      }
      return router.service(service, impl, serviceOptions);
    },
    rpc() {
      throw new Error("register whole services: single methods are not served by the fast paths");
    },
  } as ConnectRouter);
  const serveUnary = createUnaryFastPath({
    specs: unarySpecs,
    interceptors: options.router.interceptors,
    maxMessageBytes: options.maxMessageBytes,
    maxTimeoutMs: options.maxDeadlineMs,
    defaultDeadlineMs: options.defaultDeadlineMs,
    acceptCompression,
    compressMinBytes: COMPRESS_MIN_BYTES,
    jsonOptions: options.router.jsonOptions,
    shutdownSignal: options.router.shutdownSignal,
  });
  const serveServerStream = createServerStreamFastPath({
    specs: serverStreamSpecs,
    interceptors: options.router.interceptors,
    maxMessageBytes: options.maxMessageBytes,
    maxTimeoutMs: options.maxDeadlineMs,
    acceptCompression,
    compressMinBytes: COMPRESS_MIN_BYTES,
    shutdownSignal: options.router.shutdownSignal,
    stallMs: options.streamStallMs,
  });
  // Only methods that take one request message: a client stream must reach its handler as it arrives.
  const guarded = (h: UniversalHandler) =>
    h.method.methodKind === "unary" || h.method.methodKind === "server_streaming"
      ? guardMalformedMessages(h, options.maxMessageBytes, acceptCompression)
      : h;
  const handlers = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, guarded(h)]));
  const notServed = createNotServed([...handlers.keys()]);
  const handle = (req: NodeRequest, res: NodeResponse) => {
    if (serveUnary(req, res, () => options.contextValues(req))) return true;
    const handler = handlers.get(req.url?.split("?", 2)[0] ?? "");
    if (!handler) return false;
    const uReq = universalRequestFromNodeRequest(req, res, undefined, options.contextValues(req));
    handler(uReq)
      .then((uRes) => notServed.explain(handler, uReq.method, uReq.header.get("content-type"), uRes))
      .then((uRes) => universalResponseToNodeResponse(endedOnClose(uRes, res), res))
      .catch((err: unknown) => {
        // The client went away or the server is shutting down: nothing to answer.
        if (!res.writableEnded) res.destroy();
        options.logger.debug({ err, method: handler.requestPath }, "response not completed");
      });
    return true;
  };
  return Object.assign(handle, {
    notFound: notServed.notFound,
    stream(
      stream: ServerHttp2Stream,
      headers: IncomingHttpHeaders,
      responseHeaders: OutgoingHttpHeaders,
      contextValues: () => ContextValues,
    ) {
      if (headers[":method"] !== "POST") return false;
      return (
        serveServerStream(stream, headers, responseHeaders, contextValues) ||
        serveUnary(new StreamRequest(stream, headers), new StreamResponse(stream, responseHeaders), contextValues)
      );
    },
  });
}
