/**
 * The database cannot be reached (refused, unreachable, shutting down, out of connections, connection broken): a
 * temporary failure to answer with UNAVAILABLE. The driver's error is kept as `cause` for the server log; the message
 * never holds SQL text or parameters, so it is safe to show.
 */
export class StorageUnavailableError extends Error {
  constructor(message = "the database is not reachable", options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageUnavailableError";
  }
}

/**
 * The database stopped a statement that ran longer than its statement timeout (DB_STATEMENT_TIMEOUT_MS). The driver's
 * error is kept as `cause`; the message holds no SQL text or parameters.
 */
export class StorageTimeoutError extends Error {
  constructor(message = "a database statement took longer than its timeout", options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageTimeoutError";
  }
}
