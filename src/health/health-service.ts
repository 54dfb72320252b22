import { EventEmitter, on } from "node:events";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  type HealthCheckRequest,
  type HealthCheckResponse,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import { notFound } from "../errors.js";

/** The server's health: SERVING while the database answers and the server is not draining. */
export interface Health {
  /** The status of the server ("") or of one service; undefined for a service the server does not have. */
  statusOf(service: string): ServingStatus | undefined;
  /** Turns every status NOT_SERVING for good: the first step of a shutdown. Watchers hear it at once. */
  drain(): void;
}

/** Health over the services named in `services`, with `isReady` telling whether the database answers. */
export function createHealth(services: readonly string[], isReady: () => boolean) {
  const known = new Set(services);
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  let draining = false;
  const health: Health & { changes: EventEmitter } = {
    changes,
    statusOf(service) {
      if (service !== "" && !known.has(service)) return undefined;
      return !draining && isReady() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    },
    drain() {
      if (draining) return;
      draining = true;
      changes.emit("change");
    },
  };
  return health;
}

/**
 * grpc.health.v1.Health. Watch streams end with UNAVAILABLE when `streamsShutdown` aborts (after the drain has
 * told them NOT_SERVING), and free their listener as soon as the client goes away.
 */
export function createHealthService(health: ReturnType<typeof createHealth>, streamsShutdown: AbortSignal) {
  const responseOf = (status: ServingStatus): HealthCheckResponse => create(HealthCheckResponseSchema, { status });
  return {
    check(req: HealthCheckRequest): HealthCheckResponse {
      const status = health.statusOf(req.service);
      if (status === undefined) throw notFound("service", req.service);
      return responseOf(status);
    },

    async *watch(req: HealthCheckRequest, ctx: HandlerContext): AsyncGenerator<HealthCheckResponse> {
      const signal = AbortSignal.any([ctx.signal, streamsShutdown]);
      let last = health.statusOf(req.service) ?? ServingStatus.SERVICE_UNKNOWN;
      yield responseOf(last);
      try {
        for await (const _ of on(health.changes, "change", { signal })) {
          const status = health.statusOf(req.service) ?? ServingStatus.SERVICE_UNKNOWN;
          if (status !== last) yield responseOf(status);
          last = status;
        }
      } catch (err) {
        if (!signal.aborted) throw err;
      }
      if (streamsShutdown.aborted) throw new ConnectError("the server is shutting down", Code.Unavailable);
    },
  };
}
