import type { ConnectRouter, ConnectRouterOptions } from "@connectrpc/connect";
import type { Logger } from "pino";
import { EventAdminService } from "../gen/liveops/v1/event_admin_service_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { type AccessControl, createAccessControl, createAuthInterceptor } from "./auth/access-control.js";
import type { Clock } from "./clock.js";
import type { Config } from "./config.js";
import type { Db } from "./db/database.js";
import { databaseSecret } from "./db/settings.js";
import { createEventAdminService } from "./events/event-admin-service.js";
import { createEventService } from "./events/event-service.js";
import { createEventStore } from "./events/event-store.js";
import { createKeyStore, type KeyStore } from "./keys/key-store.js";
import { createPageTokens } from "./page-token.js";
import { createCallLogInterceptor, createDefaultDeadlineInterceptor } from "./server/call-interceptors.js";
import { jsonWriteOptions } from "./server/rest-routes.js";

/** The service implementations and what guards them, over one database. */
export interface Services {
  keys: KeyStore;
  access: AccessControl;
  eventService: ReturnType<typeof createEventService>;
  eventAdminService: ReturnType<typeof createEventAdminService>;
}

/** Builds every service over `db`. */
export function createServices(db: Db, clock: Clock, config: Pick<Config, "maxMessageBytes">): Services {
  const keys = createKeyStore(db);
  const eventDeps = {
    store: createEventStore(db),
    clock,
    pageTokens: createPageTokens(databaseSecret(db, "page_token_key")),
    pageBudgetBytes: config.maxMessageBytes - 64 * 1024,
  };
  return {
    keys,
    access: createAccessControl(keys, clock),
    eventService: createEventService(eventDeps),
    eventAdminService: createEventAdminService(eventDeps),
  };
}

/**
 * The Connect router of the service: its routes and options (interceptors, limits, JSON options), for the Node
 * adapter and for in-memory router transports alike.
 */
export function createRpcRouter(
  services: Services,
  deps: { logger: Logger; config: Pick<Config, "defaultDeadlineMs" | "maxDeadlineMs" | "maxMessageBytes"> },
): { routes: (router: ConnectRouter) => void; options: ConnectRouterOptions } {
  return {
    routes(router) {
      router.service(EventService, services.eventService);
      router.service(EventAdminService, services.eventAdminService);
    },
    options: {
      interceptors: [
        createCallLogInterceptor(deps.logger),
        createDefaultDeadlineInterceptor(deps.config.defaultDeadlineMs),
        createAuthInterceptor(services.access),
      ],
      readMaxBytes: deps.config.maxMessageBytes,
      writeMaxBytes: deps.config.maxMessageBytes,
      maxTimeoutMs: deps.config.maxDeadlineMs,
      jsonOptions: jsonWriteOptions,
    },
  };
}
