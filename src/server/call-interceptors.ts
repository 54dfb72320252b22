import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { Logger } from "pino";
import { principalKey } from "../auth/access-control.js";
import { methodPath } from "../auth/roles.js";
import { publicError, serviceError } from "../errors.js";
import { requestIdFrom, requestIdKey } from "./request-id.js";

/** The wire protocol of a call, from its content type. */
export function protocolOf(contentType: string | null): "grpc" | "grpc_web" | "connect" {
  if (contentType?.startsWith("application/grpc-web")) return "grpc_web";
  if (contentType?.startsWith("application/grpc")) return "grpc";
  return "connect";
}

/**
 * Writes one log line per call (method, protocol, code, duration, key id: never the key), logs any unexpected
 * error once with its cause, and turns it into a bare INTERNAL for the client. Outermost interceptor.
 */
export function createCallLogInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const method = methodPath(req.method);
    // Set by the HTTP layer; in-memory transports have none, so make one here.
    if (!req.contextValues.get(requestIdKey)) {
      req.contextValues.set(requestIdKey, requestIdFrom(req.header.get("x-request-id")));
    }
    let code: Code | undefined;
    try {
      return await next(req);
    } catch (err) {
      if (!(err instanceof ConnectError)) logger.error({ err, method }, "unexpected error in a call");
      const shown = publicError(err);
      code = shown.code;
      throw shown;
    } finally {
      const fields = {
        method,
        protocol: protocolOf(req.header.get("content-type")),
        http_method: req.requestMethod,
        code: code === undefined ? "ok" : codeToString(code),
        duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
        key_id: req.contextValues.get(principalKey)?.keyId,
        request_id: req.contextValues.get(requestIdKey),
      };
      if (code === undefined || code === Code.Canceled) logger.info(fields, "call");
      else logger.warn(fields, "call failed");
    }
  };
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
      if (signal.aborted && !req.signal.aborted) {
        throw serviceError(
          Code.DeadlineExceeded,
          "DEADLINE_EXCEEDED",
          `the call took longer than the default deadline of ${defaultDeadlineMs} ms`,
        );
      }
      throw err;
    }
  };
}
