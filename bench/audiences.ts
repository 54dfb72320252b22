// The players and audiences section of npm run bench (issue 16): one evaluation of an audience expression, a player's
// ListEvents of 100 live events each for an audience against the same events for everyone, and what a player token
// costs per call. See bench/README.md, "Players and audiences".
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetEventRequestSchema } from "../gen/liveops/v1/event_service_pb.js";
import { type Cost, measureEvaluation, measureTokens } from "./audience-costs.js";
import { type AudienceResult, measureRounds, type PairedResult, type Run, type Timing } from "./audience-rounds.js";
import { type AudienceServer, LIVE_EVENTS, startAudienceServer } from "./audience-servers.js";
import type { PostgresServer } from "./postgres-server.js";
import { pinProcess, stopServer } from "./processes.js";

/** A ratio of two rows measured in the same rounds, one after the other. */
export interface AudienceRatio {
  name: string;
  ratio: number;
  roundRatios: number[];
  medianRoundRatio: number;
  /** b's CPU per call over a's, each round's and their median. */
  roundCpuRatios: number[];
  medianCpuRatio: number;
  /** The issue's target, when it sets one. */
  target?: number;
}

/** Everything the section measured. */
export interface AudienceSection {
  evaluation: Cost[];
  tokens: Cost[];
  results: AudienceResult[];
  ratios: AudienceRatio[];
  /** The targeted and the untargeted listing at once, per backend. */
  paired: PairedResult[];
}

const LIST = "/liveops.v1.EventService/ListEvents";
const GET = "/liveops.v1.EventService/GetEvent";
const TARGETED = `ListEvents ${LIVE_EVENTS}, player, each for an audience`;
const UNTARGETED = `ListEvents ${LIVE_EVENTS}, player, for everyone`;
const VIEWER = `ListEvents ${LIVE_EVENTS}, viewer key, for everyone`;
const GET_PLAYER = "GetEvent gRPC, player token";
const GET_VIEWER = "GetEvent gRPC, viewer key";

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const round2 = (x: number) => Math.round(x * 100) / 100;
const micros = (ns: number) => (ns >= 10_000 ? (ns / 1000).toFixed(1) : (ns / 1000).toFixed(2));

/** The files h2load sends: ListEvents' request, and GetEvent's (gRPC) of an event once the servers are seeded. */
function bodiesIn(dir: string) {
  const write = (name: string, bytes: Uint8Array | string) => {
    const file = join(dir, name);
    writeFileSync(file, bytes);
    return file;
  };
  return {
    list: {
      file: write("audiences-list.json", JSON.stringify({ status: "EVENT_STATUS_ACTIVE", pageSize: LIVE_EVENTS })),
      contentType: "application/json",
    },
    getEvent: (id: string) => ({
      file: write("audiences-get-event.grpc", grpcFrame(id)),
      contentType: "application/grpc",
      grpc: true,
    }),
  };
}

/**
 * The rows of one backend, in the order of even rounds: the three listings (20 in flight, as the other ListEvents
 * rows: on PostgreSQL a page of 100 is ~103 queries), then on SQLite GetEvent with each credential.
 */
function runsOf(
  backend: string,
  targeted: AudienceServer,
  untargeted: AudienceServer,
  bodies: ReturnType<typeof bodiesIn>,
  withGetEvent: boolean,
): Run[] {
  const run = (name: string, target: AudienceServer, credential: string, get: boolean): Run => ({
    backend,
    name,
    target,
    credential,
    path: get ? GET : LIST,
    body: get ? bodies.getEvent(untargeted.eventId) : bodies.list,
    load: get ? { connections: 20, streams: 10 } : { connections: 20, streams: 1 },
  });
  return [
    run(TARGETED, targeted, targeted.playerToken, false),
    run(UNTARGETED, untargeted, untargeted.playerToken, false),
    run(VIEWER, untargeted, untargeted.viewerKey, false),
    ...(withGetEvent
      ? [
          run(GET_PLAYER, untargeted, untargeted.playerToken, true),
          run(GET_VIEWER, untargeted, untargeted.viewerKey, true),
        ]
      : []),
  ];
}

/**
 * Measures the in-process costs (this process pinned to core 1, every server idle), then starts the section's servers
 * (SQLite, and PostgreSQL when given: a targeted and an untargeted one each) and measures their rows in interleaved
 * rounds with h2load, as the rest of the benchmark does.
 */
export async function runAudiences(options: {
  quick: boolean;
  timing: Timing;
  postgres: PostgresServer | undefined;
  dir: string;
  rateLimits: string;
}): Promise<AudienceSection> {
  const { quick, timing, dir, rateLimits } = options;
  pinProcess(process.pid, 1);
  console.log(`\nplayers and audiences: in-process costs${quick ? " (quick: fewer iterations)" : ""}…`);
  const evaluation = await measureEvaluation(quick);
  const tokens = await measureTokens(quick);
  printCosts(evaluation, tokens);

  const now = Date.now();
  const backends: { backend: string; prefix: string; postgres: PostgresServer | undefined }[] = [
    { backend: "liveops", prefix: "audiences", postgres: undefined },
  ];
  if (options.postgres) {
    backends.push({ backend: "liveops (PostgreSQL)", prefix: "pg-audiences", postgres: options.postgres });
  }
  const bodies = bodiesIn(dir);
  const servers: AudienceServer[] = [];
  const runs: Run[] = [];
  try {
    for (const { backend, prefix, postgres } of backends) {
      const start = async (targeted: boolean) => {
        const name = `${prefix}-${targeted ? "targeted" : "untargeted"}`;
        const server = await startAudienceServer({ name, targeted, dir, postgres, rateLimits, now });
        servers.push(server);
        return server;
      };
      const targeted = await start(true);
      const untargeted = await start(false);
      runs.push(...runsOf(backend, targeted, untargeted, bodies, postgres === undefined));
    }
    console.log(
      `players and audiences: ${servers.length} servers seeded (${LIVE_EVENTS} live events each); ${timing.rounds} round(s) of ${timing.duration} s`,
    );
    const pairs = runs.flatMap((run) => {
      const untargeted = runs.find((other) => other.backend === run.backend && other.name === UNTARGETED);
      return run.name === TARGETED && untargeted ? [[run, untargeted] as [Run, Run]] : [];
    });
    const { results, paired } = await measureRounds(runs, pairs, timing, dir);
    const ratios = ratiosOf(results);
    printServers(results, ratios, paired);
    return { evaluation, tokens, results, ratios, paired };
  } finally {
    for (const { server } of servers) await stopServer(server);
  }
}

/** A gRPC request frame of GetEvent. */
function grpcFrame(id: string): Uint8Array {
  const message = toBinary(GetEventRequestSchema, create(GetEventRequestSchema, { id }));
  const frame = new Uint8Array(5 + message.length);
  new DataView(frame.buffer).setUint32(1, message.length);
  frame.set(message, 5);
  return frame;
}

/** The CPU a call cost in a round: the server's, and PostgreSQL's too on PostgreSQL. */
const cpuOfRound = (r: AudienceResult, i: number) => (r.roundsServerUs[i] ?? 0) + (r.roundsPostgresUs?.[i] ?? 0);

/**
 * Targeted against untargeted (the issue's ≥ 0.80), a player token against a viewer key, per backend: in req/s, and
 * in CPU per call (b's CPU per call over a's: the throughput ratio the CPU alone would give, steadier on a machine
 * shared with other work).
 */
function ratiosOf(results: AudienceResult[]): AudienceRatio[] {
  const pairs: [string, string, string, number?][] = [
    ["a player's targeted listing / the same listing untargeted", TARGETED, UNTARGETED, 0.8],
    ["a player's untargeted listing / a viewer key's", UNTARGETED, VIEWER],
    ["GetEvent with a player token / with a viewer key", GET_PLAYER, GET_VIEWER],
  ];
  const servers = [...new Set(results.map((r) => r.server))];
  return servers.flatMap((server) =>
    pairs.flatMap(([name, a, b, target]) => {
      const ours = results.find((r) => r.server === server && r.scenario === a);
      const theirs = results.find((r) => r.server === server && r.scenario === b);
      if (!ours || !theirs) return [];
      const roundRatios = ours.roundsRps.map((rps, i) => round2(rps / (theirs.roundsRps[i] ?? Number.NaN)));
      const roundCpuRatios = ours.roundsServerUs.map((_, i) => round2(cpuOfRound(theirs, i) / cpuOfRound(ours, i)));
      return [
        {
          name: `${server}: ${name}`,
          ratio: round2(ours.rps / theirs.rps),
          roundRatios,
          medianRoundRatio: median(roundRatios),
          roundCpuRatios,
          medianCpuRatio: median(roundCpuRatios),
          ...(target === undefined ? {} : { target }),
        },
      ];
    }),
  );
}

function printCosts(evaluation: Cost[], tokens: Cost[]) {
  console.log(`\n| in process (one core) | µs per call | rounds, ns | result | target |\n|---|---:|---|---|---:|`);
  for (const c of [...evaluation, ...tokens]) {
    const met = c.targetNs === undefined ? "" : `≤ ${c.targetNs / 1000} µs ${c.ns <= c.targetNs ? "✓" : "✗"}`;
    console.log(
      `| ${c.name.replaceAll("|", "\\|")} | ${micros(c.ns)} | ${c.roundsNs.join(", ")} | ${c.outcome} | ${met} |`,
    );
  }
}

function printServers(results: AudienceResult[], ratios: AudienceRatio[], paired: PairedResult[]) {
  console.log(
    `\n| server | scenario | req/s | p50 ms | p99 ms | rounds | server CPU µs/call (rounds) | PostgreSQL CPU µs/call |\n|---|---|---:|---:|---:|---|---:|---:|`,
  );
  for (const r of results) {
    const postgres = r.postgresUs === undefined ? "" : `${r.postgresUs} (${r.roundsPostgresUs?.join(", ")})`;
    console.log(
      `| ${r.server} | ${r.scenario} | ${r.rps} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.roundsRps.join(", ")} | ${r.serverUs} (${r.roundsServerUs.join(", ")}) | ${postgres} |`,
    );
  }
  console.log(
    `\n| comparison | req/s: ratio of medians | median of round ratios | round ratios | CPU per call, inverted: median (rounds) | target |\n|---|---:|---:|---|---|---:|`,
  );
  for (const r of ratios) {
    const met = r.target === undefined ? "" : `≥ ${r.target}× ${r.medianRoundRatio >= r.target ? "✓" : "✗"}`;
    const cpu = `${r.medianCpuRatio}× (${r.roundCpuRatios.map((x) => `${x}×`).join(", ")})`;
    console.log(
      `| ${r.name} | ${r.ratio}× | ${r.medianRoundRatio}× | ${r.roundRatios.map((x) => `${x}×`).join(", ")} | ${cpu} | ${met} |`,
    );
  }
  console.log(
    `\n| at once, same window | calls answered a / b: median (rounds) | CPU per call, inverted: median (rounds) | CPU µs/call a, b (rounds) | target |\n|---|---|---|---|---:|`,
  );
  for (const p of paired) {
    const calls = median(p.roundsCallsRatio);
    const list = (values: number[]) => values.map((x) => `${x}×`).join(", ");
    console.log(
      `| ${p.backend}: ${p.a} / ${p.b} | ${calls}× (${list(p.roundsCallsRatio)}) | ${median(p.roundsCpuRatio)}× (${list(p.roundsCpuRatio)}) | ${p.roundsUs.map(([a, b]) => `${a}, ${b}`).join("; ")} | ≥ 0.8× ${calls >= 0.8 ? "✓" : "✗"} |`,
    );
  }
}

/** Prints the section's tables again (for the end of the run) and writes bench/results/<name>.audiences.json. */
export function reportAudiences(section: AudienceSection, quick: boolean) {
  console.log("\nplayers and audiences (bench/audiences.ts):");
  printCosts(section.evaluation, section.tokens);
  printServers(section.results, section.ratios, section.paired);
  const file = `bench/results/${quick ? "quick" : "latest"}.audiences.json`;
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, ...section }, null, 2)}\n`,
  );
  console.log(`wrote ${file}`);
}
