import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { StorageTimeoutError, StorageUnavailableError } from "../db/storage-errors.js";
import { publicError, reasonOf } from "../errors.js";
import type { Metrics } from "../metrics/metrics.js";
import { connect } from "./connect-internals.js";

/** What is known of a call when it ends. */
export interface CallRecord {
  /** `/package.Service/Method`. */
  method: string;
  protocol: "grpc" | "grpc_web" | "connect" | "rest";
  httpMethod: string | undefined;
  keyId: string | undefined;
  requestId: string;
  startedAt: number;
  /** What reached the client: undefined for success. */
  error: ConnectError | undefined;
  path?: string;
}

/** The wire protocol of a call, from its content type. */
export function protocolOf(contentType: string | null | undefined): "grpc" | "grpc_web" | "connect" {
  if (contentType?.startsWith("application/grpc-web")) return "grpc_web";
  if (contentType?.startsWith("application/grpc")) return "grpc";
  return "connect";
}

/** Longest error message logged: a refusal naming many fields stays one readable line. */
const MAX_LOGGED_MESSAGE = 500;

/**
 * What an access line says of an error: the message and reason its client got (already public: a key, SQL or stack
 * never reaches it, see publicError), cut to {@link MAX_LOGGED_MESSAGE} characters.
 */
function errorFields(error: ConnectError): { error: string; reason?: string } {
  const message =
    error.rawMessage.length > MAX_LOGGED_MESSAGE
      ? `${error.rawMessage.slice(0, MAX_LOGGED_MESSAGE)}…`
      : error.rawMessage;
  const reason = reasonOf(error);
  return reason === undefined ? { error: message } : { error: message, reason };
}

/**
 * THE place a call is accounted for, on every protocol and the REST routes: one log line (method, protocol, code,
 * the error's message and reason, duration, request id, key id — never the key) and the call metrics.
 */
export function createCallObserver(logger: Logger, metrics: Metrics) {
  /** The labelled metric children of each (method, protocol, code): prom-client's label lookup is per call work. */
  const children = new Map<string, { calls: { inc(): void }; duration: { observe(seconds: number): void } }>();
  const childrenOf = (method: string, protocol: string, code: string) => {
    const key = `${method} ${protocol} ${code}`;
    let found = children.get(key);
    if (!found) {
      const [, service = "", name = ""] = method.split("/");
      found = {
        calls: metrics.calls.labels(service, name, protocol, code),
        duration: metrics.duration.labels(service, name),
      };
      children.set(key, found);
    }
    return found;
  };
  return {
    /** A call starts: counted in flight until {@link finish}. */
    start(): number {
      metrics.inFlight.inc();
      return performance.now();
    },

    /**
     * The error the client may see for anything a handler threw: logged once with its cause when unexpected,
     * then made public (see publicError).
     */
    publicErrorOf(err: unknown, method: string, requestId: string): ConnectError {
      // A client that went away mid-stream (its connection closed): nothing went wrong here.
      if ((err as { code?: unknown } | undefined)?.code === "ERR_STREAM_PREMATURE_CLOSE") {
        return new ConnectError("the client went away", Code.Canceled);
      }
      // The storage logs an outage once; each call's answer (UNAVAILABLE, DEADLINE_EXCEEDED) is in its access line.
      const expected =
        err instanceof ConnectError || err instanceof StorageUnavailableError || err instanceof StorageTimeoutError;
      if (!expected) logger.error({ err, method, request_id: requestId }, "unexpected error in a call");
      return publicError(err);
    },

    finish(call: CallRecord): void {
      metrics.inFlight.dec();
      const seconds = (performance.now() - call.startedAt) / 1000;
      const code = call.error === undefined ? "ok" : connect.codeToString(call.error.code);
      const metric = childrenOf(call.method, call.protocol, code);
      metric.calls.inc();
      metric.duration.observe(seconds);
      if (call.error?.code === Code.ResourceExhausted) {
        const reason = reasonOf(call.error);
        if (reason === "RATE_LIMITED" || reason === "AUTH_FAILURES_RATE_LIMITED")
          metrics.rateLimited.labels(reason).inc();
      }
      const fields = {
        method: call.method,
        protocol: call.protocol,
        http_method: call.httpMethod,
        ...(call.path ? { path: call.path } : {}),
        code,
        ...(call.error ? errorFields(call.error) : {}),
        duration_ms: Math.round(seconds * 1_000_000) / 1000,
        key_id: call.keyId,
        request_id: call.requestId,
      };
      if (call.error === undefined || call.error.code === Code.Canceled) logger.info(fields, "call");
      else logger.warn(fields, "call failed");
    },
  };
}

/** The call observer of one app. */
export type CallObserver = ReturnType<typeof createCallObserver>;
