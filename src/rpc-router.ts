import type { ConnectRouter, ConnectRouterOptions } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ApiKeyService } from "../gen/liveops/v1/api_key_service_pb.js";
import { AuditService } from "../gen/liveops/v1/audit_service_pb.js";
import { EventAdminService } from "../gen/liveops/v1/event_admin_service_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { createAuditLog } from "./audit/audit-log.js";
import { createAuditService } from "./audit/audit-service.js";
import { type AccessControl, createAccessControl, createAuthInterceptor } from "./auth/access-control.js";
import { createRateLimits } from "./auth/rate-limits.js";
import type { Clock } from "./clock.js";
import type { Config } from "./config.js";
import type { Db } from "./db/database.js";
import { databaseSecret } from "./db/settings.js";
import { createEventAdminService } from "./events/event-admin-service.js";
import { createEventService } from "./events/event-service.js";
import { createEventStore } from "./events/event-store.js";
import { createApiKeyService } from "./keys/api-key-service.js";
import { createKeyStore, type KeyStore } from "./keys/key-store.js";
import { createPageTokens } from "./page-token.js";
import { createCallLogInterceptor, createDefaultDeadlineInterceptor } from "./server/call-interceptors.js";
import { createMalformedMessageInterceptor } from "./server/malformed-messages.js";
import { jsonWriteOptions } from "./server/rest-routes.js";

/** The service implementations and what guards them, over one database. */
export interface Services {
  keys: KeyStore;
  access: AccessControl;
  eventService: ReturnType<typeof createEventService>;
  eventAdminService: ReturnType<typeof createEventAdminService>;
  apiKeyService: ReturnType<typeof createApiKeyService>;
  auditService: ReturnType<typeof createAuditService>;
}

/** Builds every service over `db`. */
export function createServices(
  db: Db,
  clock: Clock,
  config: Pick<Config, "maxMessageBytes" | "rateLimits" | "authFailureLimit">,
): Services {
  const keys = createKeyStore(db);
  const pageTokens = createPageTokens(databaseSecret(db, "page_token_key"));
  const eventDeps = {
    store: createEventStore(db),
    clock,
    pageTokens,
    pageBudgetBytes: config.maxMessageBytes - 64 * 1024,
  };
  const limits = createRateLimits({ roleDefaults: config.rateLimits, authFailures: config.authFailureLimit });
  return {
    keys,
    access: createAccessControl(keys, clock, limits),
    eventService: createEventService(eventDeps),
    eventAdminService: createEventAdminService(eventDeps),
    apiKeyService: createApiKeyService({ keys, clock, pageTokens }),
    auditService: createAuditService({ auditLog: createAuditLog(db), pageTokens }),
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
      router.service(ApiKeyService, services.apiKeyService);
      router.service(AuditService, services.auditService);
    },
    options: {
      interceptors: [
        createCallLogInterceptor(deps.logger),
        createMalformedMessageInterceptor(),
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
