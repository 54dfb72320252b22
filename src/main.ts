import { pino } from "pino";
import { createApp } from "./app.js";
import { systemClock } from "./clock.js";
import { ConfigError, configHelp, flagsToEnv, loadConfig } from "./config.js";

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${configHelp()}\n`);
    return;
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({ ...process.env, ...flagsToEnv(argv) });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`liveops: ${err.message}\nRun npm start -- --help for every setting.\n`);
    process.exit(2);
  }
  // LOG_SYNC (default): each line is one write(2) to stdout before the call's answer is written, so a SIGKILL loses
  // no line of an answered call; a log reader that stops reading stalls the server instead. Asynchronous: lines
  // queue in memory behind the write in flight (one write for many), a crash loses whatever is queued, and past
  // 16 MiB queued (a reader that stopped) lines are dropped rather than the memory grown. Either way everything is
  // flushed before a normal exit.
  const destination = pino.destination({ dest: 1, sync: config.logSync, maxLength: 16 * 1024 * 1024 });
  const logger = pino({ level: config.logLevel, base: { service: "liveops" } }, destination);
  const exit = (code: number) => {
    // end() lets a write in flight land, writes what is buffered, then closes: only then is every line out.
    // (flush() would call back at once without waiting for a write in flight.)
    destination.once("close", () => process.exit(code));
    destination.end();
    // A reader that went away (a closed pipe) must not keep the process alive.
    setTimeout(() => process.exit(code), 2_000);
  };
  // With the database reachable, the first admin key exists before the server listens; else once it is reached.
  const app = await createApp({ config, logger, clock: systemClock, initialAdminKey: true });
  const address = await app.listen(config.port, config.host);
  logger.info(
    {
      port: address.port,
      address: address.address,
      db: config.databaseUrl === undefined ? config.dbPath : "postgresql",
      tls: Boolean(config.tlsCertFile),
      metrics_port: config.metricsPort,
    },
    "liveops listening",
  );

  const stop = (signal: string) => {
    logger.info({ signal, delay_ms: config.shutdownDelayMs, grace_ms: config.shutdownGraceMs }, "shutting down");
    app.close().then(
      () => {
        logger.info("stopped");
        exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        exit(1);
      },
    );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`liveops: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
