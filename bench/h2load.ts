import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { onCore } from "./processes.js";

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
}

export function hasH2load(): boolean {
  return spawnSync("h2load", ["--version"]).status === 0;
}

/** One h2load round on core 1: requests per second and latency percentiles from its per-request log. */
export function h2load(options: {
  port: number;
  scenario: Scenario;
  key: string;
  load: Load;
  seconds: number;
  warmUp: number;
  logFile: string;
}): Round {
  const { scenario, logFile } = options;
  rmSync(logFile, { force: true });
  const load = scenario.load ?? options.load;
  const args = [
    "-c",
    String(load.connections),
    "-m",
    String(scenario.http1 ? 1 : load.streams),
    "-D",
    String(options.seconds),
    `--warm-up-time=${options.warmUp}`,
    `--log-file=${logFile}`,
    "-H",
    `authorization: Bearer ${options.key}`,
  ];
  if (scenario.http1) args.push("--h1");
  if (scenario.body) {
    args.push("-d", scenario.body.file, "-H", `content-type: ${scenario.body.contentType}`);
    if (scenario.body.grpc) args.push("-H", "te: trailers");
  }
  args.push(`http://127.0.0.1:${options.port}${scenario.path}`);
  const [cmd, cmdArgs] = onCore(1, "h2load", args);
  const out = execFileSync(cmd, cmdArgs, { encoding: "utf8" });
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0);
  const succeeded = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? 0) + Number(/(\d+) errored/.exec(out)?.[1] ?? 0);
  const micros = readFileSync(logFile, "utf8")
    .trim()
    .split("\n")
    .map((line) => Number(line.split("\t")[2]))
    .filter((n) => Number.isFinite(n))
    .sort((a, b) => a - b);
  const at = (q: number) => (micros[Math.min(micros.length - 1, Math.floor(q * micros.length))] ?? 0) / 1000;
  return { rps, p50: at(0.5), p99: at(0.99), succeeded, failed };
}
