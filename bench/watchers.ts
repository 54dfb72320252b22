// Watch streams at scale (issue 19): 10,000 WatchEvents streams on one server and a change delivered to all of them;
// 1,000 WatchLeaderboard watchers of a board taking thousands of scores a second. On SQLite and on PostgreSQL.
// A section of npm run bench, or alone: node --import tsx bench/watchers.ts [--quick] [--no-build] [--sqlite-only].
// See bench/README.md, "Watch streams at scale".
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newBenchDatabase } from "./databases.js";
import { type PostgresServer, startPostgresServer } from "./postgres-server.js";
import { pinned, pinProcess, type Server, startServer, stopServer, waitUntilIdle } from "./processes.js";
import { planSeed, type SeedKeys, seedEvents } from "./seed.js";
import { type BoardLoad, measureBoardLoad } from "./watch-boards.js";
import { type EventDelivery, measureEventDelivery } from "./watch-delivery.js";

const DAY = 86_400_000;
/** The servers' MAX_CONCURRENT_STREAMS (the product's default): streams per HTTP/2 connection. */
const STREAMS_PER_CONNECTION = 100;

/** How much the section does: quick (npm run bench -- --quick, CI) or full. */
function planOf(quick: boolean) {
  return quick
    ? { rounds: 1, watchers: 300, changes: 3, boardWatchers: 50, rate: 5_000, seconds: 2, baseline: false }
    : { rounds: 2, watchers: 10_000, changes: 8, boardWatchers: 1_000, rate: 5_000, seconds: 10, baseline: true };
}

/** A server of the section, seeded, with its keys and its live competition. */
interface WatchServer {
  backend: string;
  server: Server;
  keys: SeedKeys;
  competitionId: string;
  postmaster: number | undefined;
  /** The liveops process, and on PostgreSQL the database server's processes: waited for until idle. */
  processes: () => number[];
}

/** Everything the section measured. */
export interface WatchersSection {
  plan: ReturnType<typeof planOf>;
  events: { backend: string; round: number; load: string; result: EventDelivery }[];
  boards: { backend: string; round: number; load: string; result: BoardLoad }[];
}

const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** A new database, seeded through the product's storage: 200 events of realistic size, a live competition, keys. */
async function seededDatabase(name: string, dir: string, postgres: PostgresServer | undefined) {
  const plan = planSeed(200);
  const { env, open } = await newBenchDatabase(name, dir, postgres);
  const storage = await open();
  try {
    return { env, keys: await seedEvents(storage, plan), competitionId: plan.competitionId };
  } finally {
    await storage.close();
  }
}

/** Starts `node dist/src/main.js` on core 0 on a new seeded database (production settings but the rate limits). */
async function startWatchServer(
  backend: string,
  name: string,
  dir: string,
  postgres: PostgresServer | undefined,
  rateLimits: string,
): Promise<WatchServer> {
  const { env, keys, competitionId } = await seededDatabase(name, dir, postgres);
  const server = await startServer(backend, "node", ["dist/src/main.js"], {
    HOST: "127.0.0.1",
    RATE_LIMITS: rateLimits,
    ...env,
  });
  const pid = server.child.pid ?? 0;
  return {
    backend,
    server,
    keys,
    competitionId,
    postmaster: postgres?.postmaster,
    processes: () => [pid, ...(postgres ? postgres.pids() : [])],
  };
}

/**
 * Measures, on a liveops server per backend (SQLite, and PostgreSQL when given; new servers for each of the two
 * measurements), each on core 0 with this process on core 1, in interleaved rounds (the backends' order alternating):
 * WatchEvents delivery to many streams, then a board under a score load with many WatchLeaderboard watchers and, in
 * a full run, without them.
 */
export async function runWatchers(options: {
  quick: boolean;
  postgres: PostgresServer | undefined;
  dir: string;
  rateLimits: string;
}): Promise<WatchersSection> {
  const plan = planOf(options.quick);
  pinProcess(process.pid, 1);
  const section: WatchersSection = { plan, events: [], boards: [] };
  console.log(
    `\nwatch streams at scale: ${plan.rounds} round(s); ${plan.watchers} WatchEvents streams and ${plan.changes} changes, ${plan.boardWatchers} WatchLeaderboard watchers under ${plan.rate} scores/s asked for ${plan.seconds} s`,
  );
  // Each measurement on servers of its own: one left with the heap of 10,000 streams would carry it into the next.
  await withServers("watchers", options, async (servers) => {
    for (let round = 0; round < plan.rounds; round++) {
      for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
        await waitUntilIdle(s.processes, 10_000);
        const load = loadAverage();
        const result = await measureEventDelivery({
          server: s.server,
          viewerKey: s.keys.key,
          operatorKey: s.keys.operatorKey,
          watchers: plan.watchers,
          perConnection: STREAMS_PER_CONNECTION,
          changes: plan.changes,
          createStart: Date.now() + (400 + 40 * round) * DAY,
        });
        section.events.push({ backend: s.backend, round, load, result });
        console.log(`  ${s.backend}, round ${round + 1}: ${eventLine(result)}`);
      }
    }
  });
  await withServers("watch_boards", options, async (servers) => {
    const boardLoad = (s: WatchServer, watchers: number, seconds: number) =>
      measureBoardLoad({
        server: s.server,
        viewerKey: s.keys.key,
        gameServerKey: s.keys.gameServerKey,
        competitionId: s.competitionId,
        watchers,
        players: 10_000,
        rate: plan.rate,
        seconds,
        // PostgreSQL answers a few hundred scores a second here (bench/README): more in flight only queue.
        maxInFlight: s.postmaster ? 100 : 500,
        ...(s.postmaster ? { postmaster: s.postmaster } : {}),
      });
    // Unmeasured: the board fills with its players first, so that every round sees the same board.
    if (plan.baseline) for (const s of servers) await boardLoad(s, 0, plan.seconds);
    for (let round = 0; round < plan.rounds; round++) {
      for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
        const counts = plan.baseline ? [plan.boardWatchers, 0] : [plan.boardWatchers];
        for (const watchers of round % 2 === 0 ? counts : counts.reverse()) {
          await waitUntilIdle(s.processes, 10_000);
          const load = loadAverage();
          const result = await boardLoad(s, watchers, plan.seconds);
          section.boards.push({ backend: s.backend, round, load, result });
          console.log(`  ${s.backend}, round ${round + 1}: ${boardLine(result)}`);
        }
      }
    }
  });
  return section;
}

/** Runs `measure` with a new server per backend (on a new database named `name`), stopped after. */
async function withServers(
  name: string,
  options: { postgres: PostgresServer | undefined; dir: string; rateLimits: string },
  measure: (servers: WatchServer[]) => Promise<void>,
) {
  const servers: WatchServer[] = [];
  try {
    servers.push(await startWatchServer("liveops", name, options.dir, undefined, options.rateLimits));
    if (options.postgres) {
      servers.push(
        await startWatchServer("liveops (PostgreSQL)", name, options.dir, options.postgres, options.rateLimits),
      );
    }
    await measure(servers);
  } finally {
    for (const s of servers) await stopServer(s.server);
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const max = (values: number[]) => Math.max(...values);
const p99 = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * 0.99))] ?? Number.NaN;

function eventLine(r: EventDelivery): string {
  return `${r.watchers} streams synced in ${r.openMs} ms (${r.refused} refused and opened again); a change to all of them: p50 ${median(r.allFromAnswerMs)} ms, max ${max(r.allFromAnswerMs)} ms after the write's answer (${median(r.allFromSendMs)} / ${max(r.allFromSendMs)} ms after sending it); server ${r.serverCpuUsPerMessage} µs/message, client ${r.clientCpuUsPerMessage} µs/message; RSS ${r.before.rssMb} → ${r.open.rssMb} MB open → ${r.after.rssMb} MB (peak ${r.after.peakMb})`;
}

function boardLine(r: BoardLoad): string {
  const lag =
    r.watchers > 0 ? `; watchers' lag p50 ${r.lag.p50} ms, p99 ${r.lag.p99} ms, ${r.messagesPerSecond} messages/s` : "";
  const postgres = r.postgresCores === undefined ? "" : ` + PostgreSQL ${r.postgresCores}`;
  return `${r.watchers} leaderboard watchers: ${r.answeredPerSecond} of ${r.askedPerSecond} scores/s answered (p50 ${r.submitP50Ms} ms, p99 ${r.submitP99Ms} ms)${lag}; server cores ${r.serverCores}${postgres}, client ${r.clientCores}; RSS ${r.after.rssMb} MB (peak ${r.after.peakMb})`;
}

/** Prints the section's tables and writes bench/results/<name>.watchers.json. */
export function reportWatchers(section: WatchersSection, quick: boolean) {
  console.log("\nwatch streams at scale (bench/watchers.ts):");
  console.log(
    `\n| backend | streams | round | all synced in s (refused, opened again) | to every watcher after the write's answer: p50 / p99 / max ms | after sending the write: p50 / max ms | one watcher: p50 / p99 ms | write answered p50 ms | server µs/message | client µs/message | RSS MB: before / open / after (peak) | load average |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|`,
  );
  for (const { backend, round, load, result: r } of section.events) {
    console.log(
      `| ${backend} | ${r.watchers} | ${round + 1} | ${(r.openMs / 1000).toFixed(1)} (${r.refused}) | ${median(r.allFromAnswerMs)} / ${p99(r.allFromAnswerMs)} / ${max(r.allFromAnswerMs)} | ${median(r.allFromSendMs)} / ${max(r.allFromSendMs)} | ${r.eachFromAnswer.p50} / ${r.eachFromAnswer.p99} | ${median(r.answerMs)} | ${r.serverCpuUsPerMessage} | ${r.clientCpuUsPerMessage} | ${r.before.rssMb} / ${r.open.rssMb} / ${r.after.rssMb} (${r.after.peakMb}) | ${load} |`,
    );
  }
  for (const backend of [...new Set(section.events.map((e) => e.backend))]) {
    const rounds = section.events.filter((e) => e.backend === backend).map((e) => e.result);
    const all = rounds.flatMap((r) => r.allFromAnswerMs);
    const peak = max(rounds.map((r) => r.after.peakMb));
    const watchers = rounds[0]?.watchers ?? 0;
    console.log(
      `${backend}: ${watchers} streams, a change to all of them p99 ${p99(all)} ms over ${all.length} changes (target < 250 ms at 10,000: ${watchers >= 10_000 ? (p99(all) < 250 ? "✓" : "✗") : "not measured in quick mode"}); peak RSS ${peak} MB (target < 300 MB: ${watchers >= 10_000 ? (peak < 300 ? "✓" : "✗") : "-"})`,
    );
  }
  console.log(
    `\n| backend | leaderboard watchers | round | scores/s answered (asked) | SubmitScore p50 / p99 ms | watchers' lag p50 / p99 / max ms | messages/s | server cores (+ PostgreSQL) | server µs per score | client cores | RSS MB (peak) | load average |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|`,
  );
  for (const { backend, round, load, result: r } of section.boards) {
    const lag = r.watchers > 0 ? `${r.lag.p50} / ${r.lag.p99} / ${r.lag.max}` : "-";
    const postgres = r.postgresCores === undefined ? "" : ` (+ ${r.postgresCores})`;
    const perScore = Math.round((r.serverCores * 1e6) / Math.max(1, r.answeredPerSecond));
    console.log(
      `| ${backend} | ${r.watchers} | ${round + 1} | ${r.answeredPerSecond} (${r.askedPerSecond}) | ${r.submitP50Ms} / ${r.submitP99Ms} | ${lag} | ${r.messagesPerSecond} | ${r.serverCores}${postgres} | ${perScore} | ${r.clientCores} | ${r.after.rssMb} (${r.after.peakMb}) | ${load} |`,
    );
  }
  const file = `bench/results/${quick ? "quick" : "latest"}.watchers.json`;
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, ...section }, null, 2)}\n`,
  );
  console.log(`wrote ${file}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes("--quick");
  // Ctrl-C or SIGTERM: exit through the exit handlers, which stop the servers and PostgreSQL and delete their files.
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));
  const dir = mkdtempSync(join(tmpdir(), "liveops-watchers-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  if (!process.argv.includes("--no-build")) {
    console.log("building the production server (npm run build)…");
    execFileSync("npm", ["run", "--silent", "build"], { stdio: "inherit" });
  }
  const postgres = process.argv.includes("--sqlite-only")
    ? undefined
    : await startPostgresServer({ core: pinned ? 0 : undefined });
  const rateLimits =
    "viewer=100000/1000000,game_server=100000/1000000,operator=100000/1000000,admin=100000/1000000,player=100000/1000000";
  try {
    reportWatchers(await runWatchers({ quick, postgres, dir, rateLimits }), quick);
  } finally {
    await postgres?.stop();
  }
  process.exit(0);
}
