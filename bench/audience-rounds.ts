// The rounds of the players and audiences section of npm run bench: each row alone (h2load on core 1, as the rest of
// the benchmark), and the targeted and untargeted listings side by side in the same window. See bench/README.md.
import { join } from "node:path";
import type { AudienceServer } from "./audience-servers.js";
import { h2load, h2loadTogether, type Load, type Round } from "./h2load.js";
import { cpuSeconds, peakRssMb, treeCpuSeconds, waitUntilIdle } from "./processes.js";
import type { Result } from "./report.js";

/** Rounds of the section: the same as the rest of the benchmark's. */
export interface Timing {
  warmUp: number;
  duration: number;
  rounds: number;
  roundWarmUp: number;
}

/** One row: a request on one server of the section, with one credential. */
export interface Run {
  backend: string;
  name: string;
  target: AudienceServer;
  credential: string;
  path: string;
  body: { file: string; contentType: string; grpc?: boolean };
  load: Load;
}

/** A row's figures, with the CPU per call of its server (and PostgreSQL's), median and each round's, in µs. */
export interface AudienceResult extends Result {
  serverUs: number;
  roundsServerUs: number[];
  postgresUs?: number;
  roundsPostgresUs?: number[];
}

/** Two rows run at once, each on its own server, both servers on core 0: what each did in the same window. */
export interface PairedResult {
  backend: string;
  a: string;
  b: string;
  /** Calls a answered over calls b answered, each round's. */
  roundsCallsRatio: number[];
  /** b's server CPU per call over a's (liveops processes only), each round's. */
  roundsCpuRatio: number[];
  /** The servers' CPU per call, a's and b's, each round's, in µs. */
  roundsUs: [number, number][];
}

/** A round of one row: h2load's figures, and the CPU per call of its server (and PostgreSQL) until idle again. */
interface MeasuredRound extends Round {
  serverUs: number;
  postgresUs: number | undefined;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const round2 = (x: number) => Math.round(x * 100) / 100;

/** Calls of `path` a server has answered so far, whatever their outcome (its liveops_calls_total). */
async function callsOf(target: AudienceServer, path: string): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${target.server.port}/metrics`)).text();
  const [, service = "", method = ""] = path.split("/");
  let calls = 0;
  for (const line of metrics.split("\n")) {
    if (line.startsWith("liveops_calls_total{") && line.includes(`service="${service}"`)) {
      if (line.includes(`method="${method}"`)) calls += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return calls;
}

const pidOf = (run: Run) => run.target.server.child.pid ?? 0;
const h2loadRun = (run: Run, seconds: number, warmUp: number, logFile: string) => ({
  port: run.target.server.port,
  scenario: { name: run.name, path: run.path, body: run.body, load: run.load },
  key: run.credential,
  load: run.load,
  seconds,
  warmUp,
  logFile,
});

/**
 * One round of one row, then waiting until its server (and PostgreSQL) is idle; its CPU per call from just before
 * h2load starts until then, over the calls the server answered meanwhile (h2load's warm-up and the requests it leaves
 * behind count on both sides).
 */
async function rowRound(run: Run, seconds: number, warmUp: number, dir: string): Promise<MeasuredRound> {
  const { postmaster } = run.target;
  const callsBefore = await callsOf(run.target, run.path);
  const serverBefore = cpuSeconds([pidOf(run)]);
  const postgresBefore = postmaster === undefined ? 0 : treeCpuSeconds(postmaster);
  const result = h2load(h2loadRun(run, seconds, warmUp, join(dir, "audiences-h2load.log")));
  await waitUntilIdle(run.target.processes, 60_000);
  const calls = (await callsOf(run.target, run.path)) - callsBefore;
  const us = (cpu: number) => Math.round((cpu / Math.max(1, calls)) * 1e6);
  return {
    ...result,
    serverUs: us(cpuSeconds([pidOf(run)]) - serverBefore),
    postgresUs: postmaster === undefined ? undefined : us(treeCpuSeconds(postmaster) - postgresBefore),
  };
}

/**
 * Rows a and b at once, each its own h2load process on core 1 against its own server on core 0, so that both see
 * the same spell of this shared machine: the calls each server answered (h2load's warm-up and the requests left
 * behind included, as for the CPU) and each server's CPU per call in the same window.
 */
async function pairedRound(a: Run, b: Run, seconds: number, warmUp: number, dir: string, swap = false) {
  const before = [await callsOf(a.target, a.path), await callsOf(b.target, b.path)];
  const cpuBefore = [cpuSeconds([pidOf(a)]), cpuSeconds([pidOf(b)])];
  // Half the connections each: as many requests in flight on core 0 as a row alone.
  const half = (run: Run): Run => ({ ...run, load: { ...run.load, connections: Math.ceil(run.load.connections / 2) } });
  const loads = [
    h2loadRun(half(a), seconds, warmUp, join(dir, "audiences-h2load-a.log")),
    h2loadRun(half(b), seconds, warmUp, join(dir, "audiences-h2load-b.log")),
  ];
  // Which load generator starts first alternates, so that neither row always has the head start.
  const round = await h2loadTogether(swap ? loads.reverse() : loads);
  if (round.failed > 0) throw new Error(`${a.backend} ${a.name} with ${b.name}: ${round.failed} requests failed`);
  await waitUntilIdle(() => [...a.target.processes(), ...b.target.processes()], 60_000);
  const callsA = (await callsOf(a.target, a.path)) - (before[0] ?? 0);
  const callsB = (await callsOf(b.target, b.path)) - (before[1] ?? 0);
  if (callsA === 0 || callsB === 0) throw new Error(`${a.backend} ${a.name} with ${b.name}: a server answered none`);
  const usA = Math.round(((cpuSeconds([pidOf(a)]) - (cpuBefore[0] ?? 0)) / Math.max(1, callsA)) * 1e6);
  const usB = Math.round(((cpuSeconds([pidOf(b)]) - (cpuBefore[1] ?? 0)) / Math.max(1, callsB)) * 1e6);
  return { callsRatio: round2(callsA / Math.max(1, callsB)), cpuRatio: round2(usB / Math.max(1, usA)), usA, usB };
}

/**
 * A warm-up of every row and pair, then `timing.rounds` rounds: every row alone — in order on even rounds, in reverse
 * on odd ones, so that no row always follows the same one (the first of a round follows the previous round's
 * PostgreSQL rows) — then every pair at once (which of its load generators starts first alternates too).
 */
export async function measureRounds(
  runs: Run[],
  pairs: [Run, Run][],
  timing: Timing,
  dir: string,
): Promise<{ results: AudienceResult[]; paired: PairedResult[] }> {
  const rounds = new Map<Run, MeasuredRound[]>(runs.map((run) => [run, []]));
  const paired: PairedResult[] = pairs.map(([a, b]) => ({
    backend: a.backend,
    a: a.name,
    b: b.name,
    roundsCallsRatio: [],
    roundsCpuRatio: [],
    roundsUs: [],
  }));
  for (const run of runs) await rowRound(run, timing.warmUp, 0, dir);
  for (const [a, b] of pairs) await pairedRound(a, b, timing.warmUp, 0, dir);
  for (let i = 0; i < timing.rounds; i++) {
    for (const run of i % 2 === 0 ? runs : [...runs].reverse()) {
      rounds.get(run)?.push(await rowRound(run, timing.duration, timing.roundWarmUp, dir));
    }
    for (const [j, [a, b]] of pairs.entries()) {
      const pair = await pairedRound(a, b, timing.duration, timing.roundWarmUp, dir, i % 2 === 1);
      paired[j]?.roundsCallsRatio.push(pair.callsRatio);
      paired[j]?.roundsCpuRatio.push(pair.cpuRatio);
      paired[j]?.roundsUs.push([pair.usA, pair.usB]);
    }
  }
  const results = runs.map((run) => resultOf(run, rounds.get(run) ?? []));
  return { results, paired };
}

function resultOf({ backend, name, target }: Run, rounds: MeasuredRound[]): AudienceResult {
  const failed = rounds.reduce((n, r) => n + r.failed, 0);
  if (failed > 0 || rounds.some((r) => r.succeeded === 0)) {
    throw new Error(`${backend} ${name}: ${failed} requests failed, or none succeeded in a round`);
  }
  const roundsPostgresUs = rounds.flatMap((r) => (r.postgresUs === undefined ? [] : [r.postgresUs]));
  return {
    scenario: name,
    server: backend,
    rps: Math.round(median(rounds.map((r) => r.rps))),
    roundsRps: rounds.map((r) => Math.round(r.rps)),
    p50Ms: median(rounds.map((r) => r.p50)),
    p99Ms: median(rounds.map((r) => r.p99)),
    peakRssMb: peakRssMb(target.server.child.pid),
    serverUs: median(rounds.map((r) => r.serverUs)),
    roundsServerUs: rounds.map((r) => r.serverUs),
    ...(roundsPostgresUs.length > 0 ? { postgresUs: median(roundsPostgresUs), roundsPostgresUs } : {}),
  };
}
