import {
  Code,
  ConnectError,
  createContextKey,
  type Interceptor,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { principalKey } from "../auth/access-control.js";
import { methodPath } from "../auth/roles.js";
import { serviceError } from "../errors.js";
import type { Metrics } from "../metrics/metrics.js";
import { type CallObserver, protocolOf } from "./call-observer.js";
import { connect, grpc } from "./connect-internals.js";
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
 * The client's deadline of a call in milliseconds (`grpc-timeout`, `connect-timeout-ms`), or undefined for none. One
 * that does not parse never gets here: the transport refuses it first.
 */
export function clientDeadlineMs(header: Headers): number | undefined {
  const grpcTimeout = header.get(grpc.headerTimeout);
  if (grpcTimeout !== null) return grpc.parseTimeout(grpcTimeout, Number.MAX_SAFE_INTEGER).timeoutMs;
  const connectTimeout = header.get(connect.headerTimeout);
  if (connectTimeout !== null) return connect.parseTimeout(connectTimeout, Number.MAX_SAFE_INTEGER).timeoutMs;
  return undefined;
}

/**
 * Every unary call's deadline: the client's, or the server's default for a call without one. When it passes, the
 * call's signal aborts and the client is answered DEADLINE_EXCEEDED at once, even if the implementation is still
 * running (it is told through the signal). The signal is made only when asked for: most calls never look at it.
 */
export function createDeadlineInterceptor(defaultDeadlineMs: number): Interceptor {
  return (next) => (req) => {
    if (req.stream) return next(req);
    const clientMs = clientDeadlineMs(req.header);
    let expired: ConnectError | undefined;
    let controller: AbortController | undefined;
    let signal: AbortSignal | undefined;
    const deadlined: UnaryRequest = {
      stream: false,
      service: req.service,
      method: req.method,
      requestMethod: req.requestMethod,
      url: req.url,
      header: req.header,
      contextValues: req.contextValues,
      message: req.message,
      get signal() {
        if (!signal) {
          controller = new AbortController();
          if (expired) controller.abort(expired);
          signal = AbortSignal.any([req.signal, controller.signal]);
        }
        return signal;
      },
    };
    const expire = () => {
      expired =
        clientMs === undefined
          ? defaultDeadlineExceeded(defaultDeadlineMs)
          : new ConnectError("the operation timed out", Code.DeadlineExceeded);
      controller?.abort(expired);
      return expired;
    };
    const ms = clientMs ?? defaultDeadlineMs;
    // A deadline already passed (a client's zero timeout): not even started.
    if (ms <= 0) return Promise.reject(expire());
    return new Promise<UnaryResponse>((resolve, reject) => {
      const timer = setTimeout(() => reject(expire()), ms);
      next(deadlined).then(
        (res) => {
          clearTimeout(timer);
          resolve(res as UnaryResponse);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  };
}

/**
 * Why the transport refuses a call before its implementation runs — a message that does not decode (see
 * malformed-messages.ts), a malformed or too long deadline, an unsupported encoding, an oversize body — recorded
 * by the transport so that {@link createRefusalInterceptor} refuses the call inside the interceptors: logged and
 * counted like any other call, in whatever protocol the client speaks.
 */
export const refusalKey = createContextKey<ConnectError | undefined>(undefined, {
  description: "why the transport refuses the call",
});

/** Refuses a call the transport recorded a refusal for (see {@link refusalKey}). */
export function createRefusalInterceptor(): Interceptor {
  return (next) => async (req) => {
    const error = req.contextValues.get(refusalKey);
    if (error !== undefined) throw error;
    return await next(req);
  };
}

/**
 * THE interceptors of every call, outermost first, whatever path serves it (the Connect router, the unary fast
 * path): accounting (log line, metrics), the transport's refusals, the deadline, then `inner` (the key check).
 */
export function createCallInterceptors(deps: {
  observer: CallObserver;
  metrics: Metrics;
  defaultDeadlineMs: number;
  inner: readonly Interceptor[];
}): Interceptor[] {
  return [
    createCallObserverInterceptor(deps.observer, deps.metrics),
    createRefusalInterceptor(),
    createDeadlineInterceptor(deps.defaultDeadlineMs),
    ...deps.inner,
  ];
}
