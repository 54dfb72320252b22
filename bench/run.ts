// npm run bench [-- --quick]: the product against its peers, side by side, in one run. See bench/README.md.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, connect, createServer as createNetServer } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetEventRequestSchema } from "../gen/liveops/v1/event_service_pb.js";
import { openSqliteStorage } from "../src/db/sqlite-storage.js";
import { type Result, writeReport } from "./report.js";
import { seedEvents } from "./seed.js";

const quick = process.argv.includes("--quick");
const timing = quick
  ? { warmUp: 1, duration: 2, rounds: 1, roundWarmUp: 0 }
  : { warmUp: 2, duration: 5, rounds: 5, roundWarmUp: 1 };
const load = { connections: 20, streams: 10 };
const EVENTS = quick ? 2_000 : 10_000;

function hasH2load(): boolean {
  return spawnSync("h2load", ["--version"]).status === 0;
}
if (!hasH2load()) {
  console.error("npm run bench needs h2load: apt-get install nghttp2-client");
  process.exit(1);
}
const cores = availableParallelism();
const pinned = cores >= 2;
/** Runs `command` on one core when the machine has two: the server on core 0, the load generator on core 1. */
const onCore = (core: number, command: string, args: string[]): [string, string[]] =>
  pinned ? ["taskset", ["-c", String(core), command, ...args]] : [command, args];

const dir = mkdtempSync(join(tmpdir(), "liveops-bench-"));
const dbPath = join(dir, "liveops.db");
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

console.log(`building the production server (npm run build)…`);
execFileSync("npm", ["run", "--silent", "build"], { stdio: "inherit" });
console.log(`seeding ${EVENTS} events…`);
const seedStorage = openSqliteStorage(dbPath);
const { eventId, key, competitionId, gameServerKey } = await seedEvents(seedStorage, EVENTS);
await seedStorage.close();

interface Server {
  child: ChildProcess;
  port: number;
}

async function freePort(): Promise<number> {
  const probe = createNetServer().listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address() as AddressInfo;
  probe.close();
  return port;
}

/** Starts a server on core 0 and waits until it accepts connections on its port. */
async function start(name: string, command: string, args: string[], env: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const [cmd, cmdArgs] = onCore(0, command, args);
  // Log lines go nowhere, as they would to a log shipper: the cost of writing them is still paid.
  const child = spawn(cmd, cmdArgs, {
    env: { ...process.env, PORT: String(port), DB_PATH: dbPath, ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  for (let i = 0; i < 200 && !exited; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (up) return { child, port };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${name} did not start`);
}

async function stop(server: Server) {
  server.child.kill("SIGKILL");
  await once(server.child, "exit");
}

/** The peak resident set size of a process, in MB (VmHWM). */
function peakRssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

interface Scenario {
  name: string;
  path: string;
  http1?: boolean;
  body?: { file: string; contentType: string; grpc?: boolean };
  /** Another key than the viewer key. */
  key?: string;
  /** Other connections × streams than the default load. */
  load?: { connections: number; streams: number };
}

const bodies = join(dir, "bodies");
mkdirSync(bodies);
function bodyFile(name: string, bytes: Uint8Array): string {
  const file = join(bodies, name);
  writeFileSync(file, bytes);
  return file;
}
const getEventProto = toBinary(GetEventRequestSchema, create(GetEventRequestSchema, { id: eventId }));
const grpcFrame = new Uint8Array(5 + getEventProto.length);
new DataView(grpcFrame.buffer).setUint32(1, getEventProto.length);
grpcFrame.set(getEventProto, 5);
const grpcBody = { file: bodyFile("get-event.grpc", grpcFrame), contentType: "application/grpc", grpc: true };
const jsonBody = {
  file: bodyFile("get-event.json", Buffer.from(JSON.stringify({ id: eventId }))),
  contentType: "application/json",
};
const submitBody = {
  file: bodyFile(
    "submit-score.json",
    Buffer.from(JSON.stringify({ eventId: competitionId, playerId: "bench-player", score: "1" })),
  ),
  contentType: "application/json",
};
const listBody = {
  file: bodyFile("list-events.json", Buffer.from(JSON.stringify({ pageSize: 50 }))),
  contentType: "application/json",
};

/** One h2load round: requests per second and latency percentiles from its per-request log. */
function h2load(port: number, scenario: Scenario, seconds: number, warmUp: number) {
  const log = join(dir, "h2load.log");
  rmSync(log, { force: true });
  const scenarioLoad = scenario.load ?? load;
  const args = [
    "-c",
    String(scenarioLoad.connections),
    "-m",
    String(scenario.http1 ? 1 : scenarioLoad.streams),
    "-D",
    String(seconds),
    `--warm-up-time=${warmUp}`,
    `--log-file=${log}`,
    "-H",
    `authorization: Bearer ${scenario.key ?? key}`,
  ];
  if (scenario.http1) args.push("--h1");
  if (scenario.body) {
    args.push("-d", scenario.body.file, "-H", `content-type: ${scenario.body.contentType}`);
    if (scenario.body.grpc) args.push("-H", "te: trailers");
  }
  args.push(`http://127.0.0.1:${port}${scenario.path}`);
  const [cmd, cmdArgs] = onCore(1, "h2load", args);
  const out = execFileSync(cmd, cmdArgs, { encoding: "utf8" });
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0);
  const succeeded = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? 0) + Number(/(\d+) errored/.exec(out)?.[1] ?? 0);
  const micros = readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .map((line) => Number(line.split("\t")[2]))
    .filter((n) => Number.isFinite(n))
    .sort((a, b) => a - b);
  const at = (q: number) => (micros[Math.min(micros.length - 1, Math.floor(q * micros.length))] ?? 0) / 1000;
  return { rps, p50: at(0.5), p99: at(0.99), succeeded, failed };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** A scenario on one server, with its rounds so far. */
interface Run {
  server: Server;
  serverName: string;
  scenario: Scenario;
  rounds: ReturnType<typeof h2load>[];
}

/**
 * Measures every run in turn, round after round (A B C … A B C …), so that a slow spell of this shared machine
 * weighs on every server alike instead of on whichever ran during it; then reports medians.
 */
function measure(runs: Run[], results: Result[]) {
  for (const run of runs) h2load(run.server.port, run.scenario, timing.warmUp, 0);
  for (let i = 0; i < timing.rounds; i++) {
    // Each round starts with a second of unmeasured load: the server takes over the core from the previous one.
    for (const run of runs) {
      run.rounds.push(h2load(run.server.port, run.scenario, timing.duration, timing.roundWarmUp));
    }
  }
  for (const { server, serverName, scenario, rounds } of runs) {
    const failed = rounds.reduce((n, r) => n + r.failed, 0);
    if (failed > 0 || rounds.some((r) => r.succeeded === 0)) {
      throw new Error(`${serverName} ${scenario.name}: ${failed} requests failed`);
    }
    const result: Result = {
      scenario: scenario.name,
      server: serverName,
      rps: Math.round(median(rounds.map((r) => r.rps))),
      roundsRps: rounds.map((r) => Math.round(r.rps)),
      p50Ms: median(rounds.map((r) => r.p50)),
      p99Ms: median(rounds.map((r) => r.p99)),
      peakRssMb: peakRssMb(server.child.pid),
    };
    results.push(result);
    console.log(
      `  ${serverName.padEnd(10)} ${scenario.name.padEnd(34)} ${String(result.rps).padStart(7)} req/s  p50 ${result.p50Ms.toFixed(2)} ms  p99 ${result.p99Ms.toFixed(2)} ms  (rounds: ${result.roundsRps.join(", ")})`,
    );
  }
}

/** A gRPC response is HTTP 200 even for an error: check one call's grpc-status before loading the server. */
function checkGrpcStatus(port: number) {
  const out = spawnSync(
    "node_modules/.bin/buf",
    [
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--schema",
      "proto",
      "-H",
      `Authorization: Bearer ${key}`,
      "-d",
      JSON.stringify({ id: eventId }),
      `http://127.0.0.1:${port}/liveops.v1.EventService/GetEvent`,
    ],
    { encoding: "utf8" },
  );
  if (out.status !== 0) throw new Error(`GetEvent over gRPC failed: ${out.stderr}`);
}

const results: Result[] = [];
console.log(
  `\n${timing.rounds} round(s) of ${timing.duration} s after ${timing.warmUp} s of warm-up; ${load.connections} connections × ${load.streams} streams (HTTP/1.1: 1); ${pinned ? "server on core 0, h2load on core 1" : "one core: not pinned"}`,
);

// Every server runs from the start, each pinned to core 0 and idle while another is measured.
const liveops = await start("liveops", "node", ["dist/src/main.js"], {
  HOST: "127.0.0.1",
  RATE_LIMITS: "viewer=100000/1000000,game_server=100000/1000000,operator=100000/1000000,admin=100000/1000000",
});
checkGrpcStatus(liveops.port);
const peers = {
  "grpc-js": await start("grpc-js", "node", ["--import", "tsx", "bench/peers/grpc-js-server.ts"], {}),
  fastify: await start("fastify", "node", ["--import", "tsx", "bench/peers/fastify-server.ts"], {}),
  "bare-h2": await start("bare-h2", "node", ["--import", "tsx", "bench/peers/bare-http2-server.ts"], {}),
};
const getEvent = "/liveops.v1.EventService/GetEvent";
const submitScore = "/liveops.v1.LeaderboardService/SubmitScore";
// Each peer next to the scenario it is compared with; the heavy ListEvents last.
const scenarios: [Server, string, Scenario][] = [
  [liveops, "liveops", { name: "GetEvent gRPC (h2c)", path: getEvent, body: grpcBody }],
  [peers["grpc-js"], "grpc-js", { name: "GetEvent gRPC (h2c)", path: getEvent, body: grpcBody }],
  [liveops, "liveops", { name: "GetEvent Connect JSON (HTTP/1.1)", path: getEvent, body: jsonBody, http1: true }],
  [peers.fastify, "fastify", { name: "GET /events/{id} (HTTP/1.1)", path: `/events/${eventId}`, http1: true }],
  [liveops, "liveops", { name: "GET /events/{id} (HTTP/1.1)", path: `/events/${eventId}`, http1: true }],
  [liveops, "liveops", { name: "GetEvent Connect JSON (h2c)", path: getEvent, body: jsonBody }],
  [peers["bare-h2"], "bare-h2", { name: "fixed response (h2c)", path: "/" }],
  [liveops, "liveops", { name: "GET /events/{id} (h2c)", path: `/events/${eventId}` }],
  [
    liveops,
    "liveops",
    { name: "ListEvents 50 Connect JSON (h2c)", path: "/liveops.v1.EventService/ListEvents", body: listBody },
  ],
  // Durable writes (synchronous=FULL): one at a time, every request is its own transaction and fsync; with 200 in
  // flight, group commit writes many per transaction.
  [
    liveops,
    "liveops",
    {
      name: "SubmitScore one at a time (h2c)",
      path: submitScore,
      body: submitBody,
      key: gameServerKey,
      load: { connections: 1, streams: 1 },
    },
  ],
  [
    liveops,
    "liveops",
    { name: "SubmitScore 200 in flight (h2c)", path: submitScore, body: submitBody, key: gameServerKey },
  ],
];
measure(
  scenarios.map(([server, serverName, scenario]) => ({ server, serverName, scenario, rounds: [] })),
  results,
);
for (const server of [liveops, ...Object.values(peers)]) await stop(server);

writeReport(results, { quick, pinned, cores, timing, load, events: EVENTS });
