import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import { cors as connectCors } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import cors from "cors";
import type { Logger } from "pino";
import { EventAdminService } from "../gen/liveops/v1/event_admin_service_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { createAccessControl, createAuthInterceptor } from "./auth/access-control.js";
import type { Clock } from "./clock.js";
import type { Config } from "./config.js";
import { type Database, openDatabase } from "./db/database.js";
import { databaseSecret } from "./db/settings.js";
import { createEventAdminService } from "./events/event-admin-service.js";
import { createEventService } from "./events/event-service.js";
import { createEventStore } from "./events/event-store.js";
import { createKeyStore, type KeyStore } from "./keys/key-store.js";
import { createPageTokens } from "./page-token.js";
import { createCallLogInterceptor, createDefaultDeadlineInterceptor } from "./server/call-interceptors.js";
import { createHttpServer, type RequestHandler } from "./server/http-server.js";
import { createRestRoutes, jsonWriteOptions } from "./server/rest-routes.js";

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
  const database = openDatabase(config.dbPath, { synchronous: config.dbSynchronous });
  const keys = createKeyStore(database.db);
  const access = createAccessControl(keys, clock);
  const eventDeps = {
    store: createEventStore(database.db),
    clock,
    pageTokens: createPageTokens(databaseSecret(database.db, "page_token_key")),
    pageBudgetBytes: config.maxMessageBytes - 64 * 1024,
  };
  const eventService = createEventService(eventDeps);
  const eventAdminService = createEventAdminService(eventDeps);
  const shutdown = new AbortController();
  let draining = false;

  const rpc = connectNodeAdapter({
    routes(router: ConnectRouter) {
      router.service(EventService, eventService);
      router.service(EventAdminService, eventAdminService);
    },
    interceptors: [
      createCallLogInterceptor(logger),
      createDefaultDeadlineInterceptor(config.defaultDeadlineMs),
      createAuthInterceptor(access),
    ],
    readMaxBytes: config.maxMessageBytes,
    writeMaxBytes: config.maxMessageBytes,
    maxTimeoutMs: config.maxDeadlineMs,
    shutdownSignal: shutdown.signal,
    jsonOptions: jsonWriteOptions,
  });
  const rest = createRestRoutes({ eventService, access, logger });
  const corsHandler = cors({
    origin: config.corsOrigins,
    methods: [...connectCors.allowedMethods],
    allowedHeaders: [...connectCors.allowedHeaders, "authorization", "x-request-id"],
    exposedHeaders: [...connectCors.exposedHeaders],
    maxAge: 7200,
  });

  const handler: RequestHandler = (req, res) => {
    const path = req.url?.split("?")[0];
    if (req.method === "GET" && (path === "/health" || path === "/health/ready")) {
      const ready = path === "/health" || (!draining && database.isReady());
      res.statusCode = ready ? 200 : 503;
      res.setHeader("content-type", "application/json");
      res.setHeader("cache-control", "no-store");
      res.end(JSON.stringify({ status: ready ? "ok" : "unavailable" }));
      return;
    }
    corsHandler(req as Parameters<typeof corsHandler>[0], res as Parameters<typeof corsHandler>[1], () => {
      if (!rest(req, res)) rpc(req, res);
    });
  };

  const server = createHttpServer({
    handler,
    tls:
      config.tlsCertFile && config.tlsKeyFile
        ? { cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) }
        : undefined,
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
