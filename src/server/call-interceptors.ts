import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { principalKey } from "../auth/access-control.js";
import { methodPath } from "../auth/roles.js";
import { serviceError } from "../errors.js";
import type { Metrics } from "../metrics/metrics.js";
import { type CallObserver, protocolOf } from "./call-observer.js";
import { requestIdFrom, requestIdKey } from "./request-id.js";

/**
 * Accounts for every call through the {@link CallObserver} (log line, metrics) and turns unexpected errors into a
 * bare INTERNAL. Outermost interceptor. A server stream is accounted for when it ends.
 */
export function createCallObserverInterceptor(observer: CallObserver, metrics: Metrics): Interceptor {
  return (next) => async (req) => {
    const startedAt = observer.start();
    const method = methodPath(req.method);
    // Set by the HTTP layer; in-memory transports have none, so make one here.
    if (!req.contextValues.get(requestIdKey)) {
      req.contextValues.set(requestIdKey, requestIdFrom(req.header.get("x-request-id")));
    }
    const finish = (error: ConnectError | undefined) =>
      observer.finish({
        method,
        protocol: protocolOf(req.header.get("content-type")),
        httpMethod: req.requestMethod,
        keyId: req.contextValues.get(principalKey)?.keyId,
        requestId: req.contextValues.get(requestIdKey),
        startedAt,
        error,
      });
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (err) {
      const shown = observer.publicErrorOf(err, method, req.contextValues.get(requestIdKey));
      finish(shown);
      throw shown;
    }
    if (!res.stream) {
      finish(undefined);
      return res;
    }
    metrics.openStreams.inc();
    // Watchers are the server streams (not reflection's bidirectional one), by service and method.
    const watchers =
      req.method.methodKind === "server_streaming"
        ? metrics.watchers.labels(`${req.service.typeName}/${req.method.name}`)
        : undefined;
    watchers?.inc();
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        let error: ConnectError | undefined;
        let completed = false;
        try {
          yield* messages;
          completed = true;
        } catch (err) {
          error = observer.publicErrorOf(err, method, req.contextValues.get(requestIdKey));
          throw error;
        } finally {
          metrics.openStreams.dec();
          watchers?.dec();
          // A stream left unfinished (its client went away), or one that ended quietly because its call was
          // aborted (a watch ends so when its client cancels), did not succeed: canceled, or its deadline.
          if (error === undefined && (!completed || req.signal.aborted)) error = abortedStream(req.signal);
          finish(error);
        }
      })(),
    };
  };
}

/** Why a server stream stopped without an error: its deadline when that is what aborted it, else canceled. */
function abortedStream(signal: AbortSignal): ConnectError {
  const reason: unknown = signal.reason;
  if (reason instanceof ConnectError && reason.code === Code.DeadlineExceeded) return reason;
  return new ConnectError("the client went away", Code.Canceled);
}

/** DEADLINE_EXCEEDED for a call that ran past the server's default deadline (its client gave none). */
export function defaultDeadlineExceeded(defaultDeadlineMs: number): ConnectError {
  return serviceError(
    Code.DeadlineExceeded,
    "DEADLINE_EXCEEDED",
    `the call took longer than the default deadline of ${defaultDeadlineMs} ms`,
  );
}

/**
 * Gives a unary call without a client deadline the server's default one. (A client deadline above the maximum is
 * already refused with INVALID_ARGUMENT by the adapter's maxTimeoutMs.)
 */
export function createDefaultDeadlineInterceptor(defaultDeadlineMs: number): Interceptor {
  return (next) => async (req) => {
    if (req.stream || req.header.has("grpc-timeout") || req.header.has("connect-timeout-ms")) return await next(req);
    const signal = AbortSignal.any([req.signal, AbortSignal.timeout(defaultDeadlineMs)]);
    try {
      return await next({ ...req, signal });
    } catch (err) {
      if (signal.aborted && !req.signal.aborted) throw defaultDeadlineExceeded(defaultDeadlineMs);
      throw err;
    }
  };
}
