// The server as src/main.ts starts it, with one difference for the crash test of finalization: it kills itself
// (SIGKILL) halfway through writing the reward grants of a run, inside their transaction.
import { pino } from "pino";
import { createApp } from "../../src/app.js";
import { systemClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";

const config = loadConfig(process.env);
const logger = pino({ level: config.logLevel }, pino.destination({ dest: 1, sync: true }));
const app = await createApp({
  config,
  logger,
  clock: systemClock,
  initialAdminKey: true,
  hooks: {
    grantWritten(written, total) {
      if (written * 2 >= total) process.kill(process.pid, "SIGKILL");
    },
  },
});
const address = await app.listen(config.port, config.host);
logger.info({ port: address.port }, "liveops listening");
