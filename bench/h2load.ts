import { execFile, execFileSync, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { promisify } from "node:util";
import { onCore } from "./processes.js";

const execFileAsync = promisify(execFile);

/** Connections × streams per connection. */
export interface Load {
  connections: number;
  streams: number;
}

/** What h2load sends: a path, a body, HTTP/1.1 or h2c. */
export interface Scenario {
  name: string;
  path: string;
  http1?: boolean;
  body?: { file: string; contentType: string; grpc?: boolean };
  /** Which of the seeded keys it uses; the viewer key by default. */
  key?: "gameServerKey" | "operatorKey";
  /** Other connections × streams than the default load. */
  load?: Load;
}

/** One round's figures. */
export interface Round {
  rps: number;
  p50: number;
  p99: number;
  succeeded: number;
  failed: number;
  /** h2load's own account of the requests ("requests: … total, … started, … done, …"), for a round that failed. */
  requests: string;
}

export function hasH2load(): boolean {
  return spawnSync("h2load", ["--version"]).status === 0;
}

/** What one h2load process runs. */
interface H2loadRun {
  port: number;
  scenario: Scenario;
  key: string;
  load: Load;
  seconds: number;
  warmUp: number;
  logFile: string;
}

/** The command line of one h2load process, on core 1. */
function h2loadCommand(options: H2loadRun): [string, string[]] {
  const { scenario } = options;
  const load = scenario.load ?? options.load;
  const args = [
    "-c",
    String(load.connections),
    "-m",
    String(scenario.http1 ? 1 : load.streams),
    "-D",
    String(options.seconds),
    `--warm-up-time=${options.warmUp}`,
    `--log-file=${options.logFile}`,
    "-H",
    `authorization: Bearer ${options.key}`,
  ];
  if (scenario.http1) args.push("--h1");
  if (scenario.body) {
    args.push("-d", scenario.body.file, "-H", `content-type: ${scenario.body.contentType}`);
    if (scenario.body.grpc) args.push("-H", "te: trailers");
  }
  args.push(`http://127.0.0.1:${options.port}${scenario.path}`);
  return onCore(1, "h2load", args);
}

/** The figures of one h2load process's output, and its requests' latencies in µs (from its log file). */
function parseRun(out: string, logFile: string) {
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0);
  const succeeded = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? 0) + Number(/(\d+) errored/.exec(out)?.[1] ?? 0);
  const requests = /requests: .*/.exec(out)?.[0] ?? out.trim().split("\n").slice(-3).join(" / ");
  const micros = readFileSync(logFile, "utf8")
    .trim()
    .split("\n")
    .map((line) => Number(line.split("\t")[2]))
    .filter((n) => Number.isFinite(n));
  return { rps, succeeded, failed, micros, requests };
}

/** Percentiles of latencies in µs, as ms. */
function roundOf(rps: number, succeeded: number, failed: number, micros: number[], requests: string): Round {
  const sorted = [...micros].sort((a, b) => a - b);
  const at = (q: number) => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) / 1000;
  return { rps, p50: at(0.5), p99: at(0.99), succeeded, failed, requests };
}

/** One h2load round on core 1: requests per second and latency percentiles from its per-request log. */
export function h2load(options: H2loadRun): Round {
  rmSync(options.logFile, { force: true });
  const out = execFileSync(...h2loadCommand(options), { encoding: "utf8" });
  const { rps, succeeded, failed, micros, requests } = parseRun(out, options.logFile);
  return roundOf(rps, succeeded, failed, micros, requests);
}

/**
 * Several h2load processes at once, all on core 1 (h2load sends to one host and port, so one process per server):
 * their req/s and requests added up, latency percentiles over all their requests.
 */
export async function h2loadTogether(runs: H2loadRun[]): Promise<Round> {
  const outs = await Promise.all(
    runs.map(async (run) => {
      rmSync(run.logFile, { force: true });
      const { stdout } = await execFileAsync(...h2loadCommand(run), { encoding: "utf8" });
      return parseRun(stdout, run.logFile);
    }),
  );
  const sum = (pick: (o: (typeof outs)[number]) => number) => outs.reduce((total, o) => total + pick(o), 0);
  return roundOf(
    sum((o) => o.rps),
    sum((o) => o.succeeded),
    sum((o) => o.failed),
    outs.flatMap((o) => o.micros),
    outs.map((o) => o.requests).join("; "),
  );
}
