import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { cors as connectCors, createContextValues } from "@connectrpc/connect";
import cors from "cors";
import type { Logger } from "pino";
import { clientAddressKey } from "./auth/access-control.js";
import type { Clock } from "./clock.js";
import type { Config } from "./config.js";
import { type Database, openDatabase } from "./db/database.js";
import type { KeyStore } from "./keys/key-store.js";
import { createRpcRouter, createServices } from "./rpc-router.js";
import { createHttpServer, type RequestHandler } from "./server/http-server.js";
import { requestIdFrom, requestIdKey } from "./server/request-id.js";
import { createRestRoutes } from "./server/rest-routes.js";
import { createRpcHandler } from "./server/rpc-handler.js";

/** Headers for what browsers see: no MIME sniffing, no framing, no referrer. */
const securityHeaders: [string, string][] = [
  ["x-content-type-options", "nosniff"],
  ["x-frame-options", "DENY"],
  ["content-security-policy", "frame-ancestors 'none'"],
  ["referrer-policy", "no-referrer"],
];

/** A wired service: database, handlers and the one-port server, not yet listening. */
export interface App {
  readonly database: Database;
  readonly keys: KeyStore;
  listen(port: number, host?: string): Promise<AddressInfo>;
  /**
   * Graceful shutdown: readiness turns false, connections drain for up to `graceMs`, open calls are then
   * aborted, and the database is checkpointed and closed.
   */
  close(graceMs?: number): Promise<void>;
}

/** Everything the app takes from outside, so tests can give their own. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  clock: Clock;
}

/** Builds the service from its configuration. */
export function createApp({ config, logger, clock }: AppDeps): App {
  const tls =
    config.tlsCertFile && config.tlsKeyFile
      ? { cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) }
      : undefined;
  const database = openDatabase(config.dbPath, { synchronous: config.dbSynchronous });
  const services = createServices(database.db, clock, config);
  const { keys, access, eventService } = services;
  const shutdown = new AbortController();
  let draining = false;

  const router = createRpcRouter(services, { logger, config });
  /** Per request: its id and the client's address, set before the adapter runs. */
  const callContext = new WeakMap<object, { requestId: string; address: string }>();
  const rpc = createRpcHandler({
    routes: router.routes,
    router: { ...router.options, shutdownSignal: shutdown.signal },
    maxMessageBytes: config.maxMessageBytes,
    logger,
    contextValues(req) {
      const values = createContextValues();
      const context = callContext.get(req);
      if (context) values.set(requestIdKey, context.requestId).set(clientAddressKey, context.address);
      return values;
    },
  });
  const rest = createRestRoutes({ eventService, access, logger });
  const corsHandler = cors({
    origin: config.corsOrigins,
    methods: [...connectCors.allowedMethods],
    allowedHeaders: [...connectCors.allowedHeaders, "authorization", "x-request-id"],
    exposedHeaders: [...connectCors.exposedHeaders, "x-request-id", "retry-after"],
    maxAge: 7200,
  });

  const handler: RequestHandler = (req, res) => {
    for (const [name, value] of securityHeaders) res.setHeader(name, value);
    const path = req.url?.split("?")[0];
    if (req.method === "GET" && (path === "/health" || path === "/health/ready")) {
      const ready = path === "/health" || (!draining && database.isReady());
      res.statusCode = ready ? 200 : 503;
      res.setHeader("content-type", "application/json");
      res.setHeader("cache-control", "no-store");
      res.end(JSON.stringify({ status: ready ? "ok" : "unavailable" }));
      return;
    }
    const context = {
      requestId: requestIdFrom(req.headers["x-request-id"]),
      address: req.socket.remoteAddress ?? "unknown",
    };
    res.setHeader("x-request-id", context.requestId);
    callContext.set(req, context);
    corsHandler(req as Parameters<typeof corsHandler>[0], res as Parameters<typeof corsHandler>[1], () => {
      if (rest(req, res, context) || rpc(req, res)) return;
      res.statusCode = 404;
      res.end();
    });
  };

  const server = createHttpServer({
    handler,
    tls,
    maxConcurrentStreams: config.maxConcurrentStreams,
  });

  let closing: Promise<void> | undefined;
  return {
    database,
    keys,
    listen: (port, host) => server.listen(port, host),
    close(graceMs = config.shutdownGraceMs) {
      closing ??= (async () => {
        draining = true;
        await server.drain(graceMs);
        shutdown.abort();
        server.destroy();
        database.close();
      })();
      return closing;
    },
  };
}
