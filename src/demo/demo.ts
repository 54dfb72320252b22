/**
 * `npm run demo`: fills a fresh database with the demo calendar, prints what it made and how to look at it, exits.
 * Takes the server's settings (DB_PATH or --db, DATABASE_URL or --database-url, …). Not imported by the server.
 * Exit status: 0 done, 2 refused (bad settings, or a database that already holds events), 1 failed.
 */
import { pino } from "pino";
import { EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { type Config, ConfigError, flagsToEnv, loadConfig } from "../config.js";
import { DemoRefused, type DemoSummary, loadDemo } from "./load-demo.js";

const statusWords: Record<EventStatus, string> = {
  [EventStatus.UNSPECIFIED]: "unknown",
  [EventStatus.UPCOMING]: "upcoming",
  [EventStatus.ACTIVE]: "live",
  [EventStatus.ENDED]: "ended",
  [EventStatus.BETWEEN_RUNS]: "between runs",
};

/** The closing summary: what was made, then how to look at it. */
function summaryText(summary: DemoSummary, config: Config, seconds: number): string {
  const where =
    config.databaseUrl === undefined ? `${config.dbPath} (SQLite)` : "the PostgreSQL database of DATABASE_URL";
  const host =
    config.host === undefined || config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
  const width = Math.max(...summary.events.map((e) => e.title.length));
  const lines = [
    `Loaded the demo calendar into ${where} in ${seconds.toFixed(1)} s:`,
    ...summary.events.map((e) => `  ${e.title.padEnd(width)}  ${statusWords[e.status]}`),
    `  ${summary.live.title}: ${summary.live.players} players on the live board, led by ${summary.live.leader}`,
    `  ${summary.past.title}: ${summary.past.runs} past runs, ${summary.past.grants} prizes granted, ${summary.past.claimed} claimed`,
    `  ${summary.players} players with properties, audiences ${summary.audiences.join(" and ")}, ${summary.scoresSubmitted} scores`,
    "",
    "Look at it:",
    config.databaseUrl !== undefined
      ? "  npm start   (with the same DATABASE_URL)"
      : `  npm start${config.dbPath === "./data/liveops.db" ? "" : ` -- --db ${config.dbPath}`}`,
    `  then open http://${host}:${config.port}/ and sign in with the admin key:`,
    summary.adminKeyFile
      ? `  cat ${summary.adminKeyFile}`
      : "  an admin key of yours (this database had keys before; npm run keys -- create --role admin makes one)",
  ];
  return `${lines.join("\n")}\n`;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(
      "npm run demo [-- --db <file> | --database-url <url>]: fills a fresh database with a demo calendar.\n" +
        "Takes every setting of npm start (npm start -- --help); refuses a database that holds events.\n",
    );
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig({ ...process.env, ...flagsToEnv(argv) });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`demo: ${err.message}\n`);
    return 2;
  }
  // Errors only: the summary is the output (and says where the first admin key is, which the service logs as a
  // warning).
  const logger = pino({ level: "error", base: { service: "liveops-demo" } }, pino.destination(2));
  const started = performance.now();
  try {
    const summary = await loadDemo({ config, logger });
    process.stdout.write(summaryText(summary, config, (performance.now() - started) / 1000));
    return 0;
  } catch (err) {
    if (err instanceof DemoRefused) {
      process.stderr.write(`demo: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo: failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
