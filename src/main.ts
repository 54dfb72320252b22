import { HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { createApp } from "./app.js";
import { systemClock } from "./clock.js";
import { ConfigError, configHelp, flagsToEnv, loadConfig } from "./config.js";
import { listeningSummary } from "./server/listening-summary.js";
import { createLogOutput } from "./server/log-output.js";

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
  const { logger, end } = createLogOutput(config);
  // Every line is out before the process exits (see createLogOutput).
  const exit = (code: number) => void end().then(() => process.exit(code));
  // With the database reachable, the first admin key exists before the server listens; else once it is reached.
  const app = await createApp({ config, logger, clock: systemClock, initialAdminKey: true });
  const address = await app.listen(config.port, config.host);
  const ready = app.health.statusOf("") === ServingStatus.SERVING;
  logger.info(listeningSummary(config, address, ready), "liveops listening");

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
