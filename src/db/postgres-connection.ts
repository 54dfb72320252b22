import pg from "pg";
import { type PostgresSslMode, postgresConnection } from "./postgres-url.js";
import { StorageTimeoutError, StorageUnavailableError } from "./storage-errors.js";

// How liveops connects to PostgreSQL: each connection's configuration, and what a driver error means for the port.

/** Socket errors, then SQLSTATEs admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections. */
const UNAVAILABLE_CODES = new Set(
  ["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "EPIPE"].concat([
    "57P01",
    "57P02",
    "57P03",
    "53300",
  ]),
);
/** node-postgres's own (never localized) messages for a connection that failed, broke or timed out. */
const DRIVER_FAILURES =
  /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Client was closed)/;

export function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Whether `err` says the database cannot be reached or the connection is gone (rather than a statement failing). */
export function isConnectionFailure(err: unknown): boolean {
  if (err instanceof StorageUnavailableError) return true;
  if (err instanceof AggregateError && err.errors.some(isConnectionFailure)) return true;
  const code = codeOf(err) ?? "";
  // Class 08: connection_exception.
  if (UNAVAILABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
  return err instanceof Error && DRIVER_FAILURES.test(err.message);
}

/**
 * The port's error for a driver error: unavailable, timeout, or the error itself. Every 57014 (query_canceled) is a
 * timeout: this service never cancels its statements, so a cancel is statement_timeout (or an operator's
 * pg_cancel_backend, which asks the same of the caller: try later); the server's message cannot tell them apart in
 * every locale.
 */
export function toStorageError(err: unknown): unknown {
  if (err instanceof StorageUnavailableError || err instanceof StorageTimeoutError) return err;
  if (isConnectionFailure(err)) return new StorageUnavailableError(undefined, { cause: err });
  if (codeOf(err) === "57014") return new StorageTimeoutError(undefined, { cause: err });
  return err;
}

function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError("an int8 value is beyond the safe integers of JavaScript");
  return value;
}

function parseNumeric(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || (Number.isInteger(value) && !Number.isSafeInteger(value))) {
    throw new RangeError("a numeric value is not a finite number within the safe integers of JavaScript");
  }
  return value;
}

/**
 * Type parsers of our connections only (the global pg.types stay as they are): int8 (counts, millisecond times) and
 * numeric (sums) as numbers. A parser that throws fails its statement, which is better than a silently rounded id.
 */
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === pg.types.builtins.INT8) return parseInt8;
    if (oid === pg.types.builtins.NUMERIC) return parseNumeric;
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig["getTypeParser"],
};

function sslOf(mode: PostgresSslMode): pg.ClientConfig["ssl"] {
  if (mode === "disable") return false;
  return { rejectUnauthorized: mode === "verify-full" };
}

/** The node-postgres configuration of one connection to `options.url` (TLS from our mode, never from the URL). */
export function clientConfig(options: {
  url: string;
  sslMode?: PostgresSslMode | undefined;
  applicationName?: string | undefined;
}): pg.ClientConfig {
  const connection = postgresConnection(options.url, options.sslMode);
  if ("error" in connection) throw new Error(`the PostgreSQL URL or sslMode is invalid: ${connection.error}`);
  return {
    connectionString: connection.value.connectionString,
    ssl: sslOf(connection.value.sslMode),
    application_name: options.applicationName ?? "liveops",
    // The URL's `options` (server settings), to which a connection may add its own.
    options: connection.value.options,
    keepAlive: true,
    types,
  };
}
