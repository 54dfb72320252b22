import { type DestinationStream, type Logger, type LoggerOptions, pino } from "pino";
import { prettyFactory } from "pino-pretty";
import type { Config } from "../config.js";

/** Past this much queued (asynchronous logging, a reader that stopped), lines are dropped rather than memory grown. */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/** The server's logger and the end of its output. */
export interface LogOutput {
  logger: Logger;
  /** Writes what is queued and closes stdout's stream; resolves once every line is out (or after 2 s at most). */
  end(): Promise<void>;
}

/** The options of the server's logger, for any output (tests give theirs): the service's name, ISO-8601 times. */
export function loggerOptions(level: string): LoggerOptions {
  return { level, base: { service: "liveops" }, timestamp: pino.stdTimeFunctions.isoTime };
}

/**
 * The logger of `npm start`: to stdout, `time` as an ISO-8601 string, in LOG_FORMAT.
 *
 * LOG_SYNC (default): each line is one write(2) to stdout before the call's answer is written, so a SIGKILL loses
 * no line of an answered call; a log reader that stops reading stalls the server instead. Asynchronous: lines
 * queue in memory behind the write in flight (one write for many), a crash loses whatever is queued, and past
 * 16 MiB queued (a reader that stopped) lines are dropped rather than the memory grown.
 *
 * `pretty` formats each line in this thread and writes it through the same stdout stream, so LOG_SYNC means the
 * same for it; pino-pretty's usual transport (a worker thread) would make every line asynchronous and lose the
 * last ones on a crash. Formatting costs CPU per line: pretty is for a terminal, json for production.
 */
export function createLogOutput(config: Pick<Config, "logLevel" | "logSync" | "logFormat">): LogOutput {
  const destination = pino.destination({ dest: 1, sync: config.logSync, maxLength: MAX_QUEUED_BYTES });
  const stream: DestinationStream = config.logFormat === "pretty" ? prettyStream(destination) : destination;
  const logger = pino(loggerOptions(config.logLevel), stream);
  return {
    logger,
    end: () =>
      new Promise((resolve) => {
        // end() lets a write in flight land, writes what is buffered, then closes: only then is every line out.
        // (flush() would call back at once without waiting for a write in flight.)
        destination.once("close", () => resolve());
        destination.end();
        // A reader that went away (a closed pipe) must not keep the process alive.
        setTimeout(resolve, 2_000);
      }),
  };
}

/**
 * One human line per entry — time, level, message, then the fields — colorized when stdout is a terminal that
 * supports it (pino-pretty's own test), written to `destination`.
 */
function prettyStream(destination: DestinationStream): DestinationStream {
  const prettify = prettyFactory({
    singleLine: true,
    translateTime: "SYS:yyyy-mm-dd HH:MM:ss.l o",
    ignore: "service",
  });
  return { write: (line: string) => destination.write(prettify(line)) };
}
