import type { ConnectRouter, ConnectRouterOptions, ContextValues } from "@connectrpc/connect";
import { createConnectRouter } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { Logger } from "pino";
import type { RequestHandler } from "./http-server.js";
import { guardMalformedMessages } from "./malformed-messages.js";

type NodeRequest = Parameters<RequestHandler>[0];

/**
 * The Node request handler of the Connect router: what `connectNodeAdapter` does, with the handler of every method
 * that takes a single request message wrapped by {@link guardMalformedMessages}. Returns false for a path that is
 * no RPC.
 */
export function createRpcHandler(options: {
  routes: (router: ConnectRouter) => void;
  router: ConnectRouterOptions;
  maxMessageBytes: number;
  contextValues: (req: NodeRequest) => ContextValues;
  logger: Logger;
}): (req: NodeRequest, res: Parameters<RequestHandler>[1]) => boolean {
  const router = createConnectRouter({ acceptCompression: [compressionGzip, compressionBrotli], ...options.router });
  options.routes(router);
  // Only methods that take one request message: a client stream must reach its handler as it arrives.
  const guarded = (h: UniversalHandler) =>
    h.method.methodKind === "unary" || h.method.methodKind === "server_streaming"
      ? guardMalformedMessages(h, options.maxMessageBytes)
      : h;
  const handlers = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, guarded(h)]));
  return (req, res) => {
    const handler = handlers.get(req.url?.split("?", 2)[0] ?? "");
    if (!handler) return false;
    const uReq = universalRequestFromNodeRequest(req, res, undefined, options.contextValues(req));
    handler(uReq)
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((err: unknown) => {
        // The client went away or the server is shutting down: nothing to answer.
        if (!res.writableEnded) res.destroy();
        options.logger.debug({ err, method: handler.requestPath }, "response not completed");
      });
    return true;
  };
}
