import { once, setMaxListeners } from "node:events";
import { readFileSync } from "node:fs";
import { createServer as createPlainServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, cors as connectCors, createContextValues } from "@connectrpc/connect";
import cors from "cors";
import type { Logger } from "pino";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { clientAddressKey } from "./auth/access-control.js";
import { createClientAddressOf } from "./auth/client-address.js";
import type { Clock } from "./clock.js";
import type { ClusterInstance } from "./cluster/cluster-instance.js";
import type { Config } from "./config.js";
import { databaseReached, openStorage } from "./db/open-storage.js";
import type { Storage } from "./db/storage.js";
import type { EventScheduler } from "./events/event-scheduler.js";
import { createLiveStateStore } from "./events/live-state-store.js";
import { ensureInitialAdminKey } from "./keys/initial-admin-key.js";
import type { KeyStore } from "./keys/key-store.js";
import type { ScoreStoreHooks } from "./leaderboards/score-store.js";
import { createMetrics, type Metrics, observeLiveState } from "./metrics/metrics.js";
import { createRpcRouter, createServices, type Services } from "./rpc-router.js";
import { createCallObserver } from "./server/call-observer.js";
import { createDashboard, installedDashboardDir } from "./server/dashboard.js";
import { createHttpServer, type RequestHandler } from "./server/http-server.js";
import { serveOpenApi } from "./server/openapi-route.js";
import { requestIdFrom, requestIdKey } from "./server/request-id.js";
import { createRestRoutes, sendJson } from "./server/rest-routes.js";
import { createRpcHandler } from "./server/rpc-handler.js";

/** A wired service: database, handlers and the one-port server, not yet listening. */
export interface App {
  readonly storage: Storage;
  readonly keys: KeyStore;
  readonly health: Services["health"];
  readonly metrics: Metrics;
  /** The WatchEvents streams open now, and their queues. */
  readonly eventFeed: Services["feed"];
  /** The scheduler of run boundaries (see {@link EventScheduler.idle}). */
  readonly scheduler: Pick<EventScheduler, "idle">;
  /** This instance among those on the database (see {@link ClusterInstance}). */
  readonly cluster: Pick<ClusterInstance, "synced" | "leading">;
  /** Listens on `port` (and on the metrics port, when one is configured). */
  listen(port: number, host?: string): Promise<AddressInfo>;
  /**
   * Graceful shutdown: health and readiness turn NOT_SERVING, the server keeps serving for the shutdown delay, open
   * streams end with UNAVAILABLE, connections drain for up to `graceMs`, and the database is checkpointed and
   * closed.
   */
  close(graceMs?: number): Promise<void>;
}

/** Everything the app takes from outside, so tests can give their own. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  clock: Clock;
  /** Points inside the service's work where a test may act (e.g. crash mid-finalization); none in production. */
  hooks?: ScoreStoreHooks;
  /**
   * Make the first admin key (written to INITIAL_ADMIN_KEY_FILE) when the database has no key, before the app
   * reports ready: what `npm start` does.
   */
  initialAdminKey?: boolean;
}

/** Headers for what browsers see: no MIME sniffing, no framing, no referrer. */
const securityHeaders: [string, string][] = [
  ["x-content-type-options", "nosniff"],
  ["x-frame-options", "DENY"],
  ["content-security-policy", "frame-ancestors 'none'"],
  ["referrer-policy", "no-referrer"],
];

const securityHeaderObject: OutgoingHttpHeaders = Object.fromEntries(securityHeaders);

type AnyRequest = Parameters<RequestHandler>[0];
type AnyResponse = Parameters<RequestHandler>[1];

function serveMetrics(metrics: Metrics, res: AnyResponse | ServerResponse) {
  metrics.registry.metrics().then(
    (text) => {
      res.statusCode = 200;
      res.setHeader("content-type", metrics.registry.contentType);
      res.end(text);
    },
    () => {
      res.statusCode = 500;
      res.end();
    },
  );
}

/** While the database cannot be reached at start-up, the next try. */
const START_RETRY_MS = 1000;

/**
 * Builds the service from its configuration. It starts even when the database (PostgreSQL) cannot be reached: it is
 * not ready until it has, and tries again every second.
 */
export async function createApp({ config, logger, clock, hooks, initialAdminKey }: AppDeps): Promise<App> {
  const tls =
    config.tlsCertFile && config.tlsKeyFile
      ? { cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) }
      : undefined;
  const metrics = createMetrics();
  const storage = await openStorage(config, logger, {
    server: true,
    onBatch: (size) => metrics.writeBatchSize.observe(size),
    onListenerReconnect: () => metrics.changeListenerReconnects.inc(),
  });
  const observer = createCallObserver(logger, metrics);
  /** Aborts open server streams (UNAVAILABLE); then `shutdown` aborts whatever is left. */
  const streamsShutdown = new AbortController();
  const shutdown = new AbortController();
  // Every open call listens to these (connect links each call's signal to the shutdown signal): thousands of
  // watchers are expected, not a leak.
  setMaxListeners(0, streamsShutdown.signal, shutdown.signal);
  const services = createServices(storage, {
    clock,
    config,
    metrics,
    logger,
    streamsShutdown: streamsShutdown.signal,
    hooks,
  });
  const { keys, access, eventService, health } = services;
  const liveState = createLiveStateStore(storage.reads);
  observeLiveState(metrics, () => liveState.liveState(clock.now()), config.metricsStateMaxAgeMs);
  let stopStarting = false;
  let startRetry: NodeJS.Timeout | undefined;
  let failureLogged = false;
  const start = async (): Promise<void> => {
    try {
      await services.start(async () => {
        if (!initialAdminKey) return;
        const id = await ensureInitialAdminKey(services.keys, clock, config.initialAdminKeyFile);
        if (id) {
          logger.warn(
            { key_id: id, file: config.initialAdminKeyFile },
            `no API key existed: created an admin key; read it with: cat ${config.initialAdminKeyFile}`,
          );
        }
      });
      if (failureLogged) logger.info("started: serving");
    } catch (err) {
      if (stopStarting) return;
      if (!failureLogged) {
        logger.error(
          { err },
          "the service could not start (see err: usually the database); not ready, retrying every second",
        );
      }
      failureLogged = true;
      startRetry = setTimeout(() => void start(), START_RETRY_MS);
      startRetry.unref();
    }
  };
  // A database reachable at start-up is used before the server listens; an unreachable one is waited for meanwhile.
  await databaseReached(storage, config.dbConnectTimeoutMs);
  await start();

  const router = createRpcRouter(services, { observer, metrics, config });
  /** Per request: its id and the client's address, set before the Connect handler runs. */
  const callContext = new WeakMap<object, { requestId: string; address: string }>();
  const clientAddressOf = createClientAddressOf(config.trustedProxies);
  const rpc = createRpcHandler({
    routes: router.routes,
    router: { ...router.options, shutdownSignal: shutdown.signal },
    maxMessageBytes: config.maxMessageBytes,
    maxDeadlineMs: config.maxDeadlineMs,
    defaultDeadlineMs: config.defaultDeadlineMs,
    logger,
    contextValues(req) {
      const values = createContextValues();
      const context = callContext.get(req);
      if (context) values.set(requestIdKey, context.requestId).set(clientAddressKey, context.address);
      return values;
    },
  });
  const rest = createRestRoutes({ eventService, access, observer });
  const dashboard = createDashboard(config.dashboardDir ?? installedDashboardDir());
  if (!dashboard.available) logger.info("no built dashboard found: / answers 404 (npm run build makes it)");
  const corsHandler = cors({
    origin: config.corsOrigins,
    methods: [...connectCors.allowedMethods],
    allowedHeaders: [...connectCors.allowedHeaders, "authorization", "x-request-id", "if-none-match"],
    exposedHeaders: [...connectCors.exposedHeaders, "x-request-id", "retry-after", "etag"],
    maxAge: 7200,
  });

  const handler: RequestHandler = (req: AnyRequest, res: AnyResponse) => {
    for (const [name, value] of securityHeaders) res.setHeader(name, value);
    const path = req.url?.split("?")[0] ?? "";
    if (dashboard.serve(req, res, path) || serveOpenApi(req, res, path)) return;
    if (req.method === "GET") {
      if (path === "/health") return sendJson(res, 200, '{"status":"ok"}');
      if (path === "/health/ready") {
        const ready = health.statusOf("") === ServingStatus.SERVING;
        return sendJson(res, ready ? 200 : 503, ready ? '{"status":"ok"}' : '{"status":"unavailable"}');
      }
      if (path === "/metrics" && config.metricsEnabled && config.metricsPort === undefined) {
        return serveMetrics(metrics, res);
      }
    }
    const context = {
      requestId: requestIdFrom(req.headers["x-request-id"]),
      address: clientAddressOf(req.socket.remoteAddress, req.headers["x-forwarded-for"]),
    };
    res.setHeader("x-request-id", context.requestId);
    callContext.set(req, context);
    const route = () => {
      if (rest(req, res, context) || rpc(req, res)) return;
      rpc.notFound(req, res);
    };
    // Only browsers send Origin (preflights included); other clients skip the CORS middleware's per-call work.
    if (req.headers.origin === undefined) {
      res.setHeader("vary", "Origin");
      route();
    } else corsHandler(req as IncomingMessage, res as ServerResponse, route);
  };

  /**
   * HTTP/2 unary calls from clients that are no browser (no Origin: no CORS to answer) straight from their stream,
   * with the same request id, client address and headers as `handler` gives; everything else goes to `handler`.
   */
  const streamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): boolean => {
    if (headers.origin !== undefined || headers[":method"] !== "POST") return false;
    const requestId = requestIdFrom(headers["x-request-id"]);
    const responseHeaders: OutgoingHttpHeaders = { ...securityHeaderObject, "x-request-id": requestId, vary: "Origin" };
    return rpc.stream(stream, headers, responseHeaders, () =>
      createContextValues()
        .set(requestIdKey, requestId)
        .set(clientAddressKey, clientAddressOf(stream.session?.socket?.remoteAddress, headers["x-forwarded-for"])),
    );
  };
  const server = createHttpServer({
    handler,
    streamHandler,
    tls,
    maxConcurrentStreams: config.maxConcurrentStreams,
  });
  const metricsServer =
    config.metricsEnabled && config.metricsPort !== undefined
      ? createPlainServer((req, res) => {
          if (req.method === "GET" && req.url?.split("?")[0] === "/metrics") serveMetrics(metrics, res);
          else {
            res.statusCode = 404;
            res.end();
          }
        })
      : undefined;

  let closing: Promise<void> | undefined;
  return {
    storage,
    keys,
    scheduler: services.scheduler,
    cluster: services.cluster,
    health,
    metrics,
    eventFeed: services.feed,
    async listen(port, host) {
      const address = await server.listen(port, host);
      if (metricsServer) {
        metricsServer.listen(config.metricsPort, host);
        await once(metricsServer, "listening");
      }
      return address;
    },
    close(graceMs = config.shutdownGraceMs) {
      closing ??= (async () => {
        health.drain();
        stopStarting = true;
        clearTimeout(startRetry);
        if (config.shutdownDelayMs > 0) await sleep(config.shutdownDelayMs);
        streamsShutdown.abort(new ConnectError("the server is shutting down", Code.Unavailable));
        await server.drain(graceMs);
        shutdown.abort(new ConnectError("the server is shutting down", Code.Unavailable));
        server.destroy();
        metricsServer?.close();
        metricsServer?.closeAllConnections();
        // The expander first: a scheduler pass waiting for a walk ends at once instead of after the walks queued.
        const clusterStopped = services.cluster.stop();
        await services.expander.close();
        await clusterStopped;
        await storage.close();
      })();
      return closing;
    },
  };
}
