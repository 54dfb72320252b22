import { mkdirSync, writeFileSync } from "node:fs";
import {
  type CallCost,
  type Capacity,
  callCosts,
  capacityOf,
  type FollowCost,
  followCosts,
  MIXES,
  TARGETS,
} from "./capacity.js";
import type { Comparisons } from "./comparisons.js";
import type { ManyInstances } from "./many-instances.js";

/** One scenario's figures: medians of the rounds. */
export interface Result {
  scenario: string;
  server: string;
  rps: number;
  /** Each round's req/s, in order: rounds of different servers with the same index ran back to back. */
  roundsRps: number[];
  p50Ms: number;
  p99Ms: number;
  peakRssMb: number;
}

function svgChart(results: Result[]): string {
  const width = 900;
  const barHeight = 22;
  const labelWidth = 360;
  const max = Math.max(...results.map((r) => r.rps), 1);
  const colors: Record<string, string> = {
    liveops: "#2563eb",
    "grpc-js": "#f59e0b",
    "grpc-js (key check)": "#d97706",
    fastify: "#10b981",
    "bare-h2": "#6b7280",
    "liveops (PostgreSQL)": "#7c3aed",
  };
  const bars = results.map((r, i) => {
    const y = 40 + i * (barHeight + 8);
    const w = Math.round(((width - labelWidth - 90) * r.rps) / max);
    const label = `${r.server}: ${r.scenario}`.replaceAll("&", "&amp;").replaceAll("<", "&lt;");
    return [
      `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${label}</text>`,
      `<rect x="${labelWidth}" y="${y}" width="${w}" height="${barHeight}" fill="${colors[r.server] ?? "#999"}"/>`,
      `<text x="${labelWidth + w + 6}" y="${y + 15}">${r.rps.toLocaleString("en")} req/s</text>`,
    ].join("");
  });
  const height = 60 + results.length * (barHeight + 8);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12" role="img">`,
    "<title>liveops on SQLite and PostgreSQL, and its peers: requests per second, median of the rounds</title>",
    `<text x="10" y="22" font-size="15" font-weight="bold">liveops (SQLite, PostgreSQL) vs peers: requests per second (median)</text>`,
    ...bars,
    "</svg>",
  ].join("\n");
}

const ms = (x: number | undefined) => (x === undefined ? "-" : x === Number.POSITIVE_INFINITY ? "> 5000" : String(x));

/** The many-instances tables: throughput and CPU per call by number of instances, delivery, the capacity model. */
function printInstances(many: ManyInstances, costs: CallCost[], follows: FollowCost[], capacity: Capacity[]) {
  console.log(
    `\n| instances | scenario | in flight | req/s | p50 ms | p99 ms | instance CPU µs/call (rounds) | PostgreSQL CPU µs/call (rounds) | busy cores | changes read/call | change delay p50 / p99 ms |`,
  );
  console.log(`|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|`);
  for (const r of many.spread) {
    console.log(
      `| ${r.instances} | ${r.scenario} | ${r.inFlight} | ${r.rps} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.instanceUs} (${r.roundsInstanceUs.join(", ")}) | ${r.postgresUs} (${r.roundsPostgresUs.join(", ")}) | ${r.busyCores} | ${r.changesReadPerCall} | ${ms(r.changeDelayP50Ms)} / ${ms(r.changeDelayP99Ms)} |`,
    );
  }
  console.log(
    `\n| following | changes/s asked | logged | commits/s | instance CPU µs/change, each instance | PostgreSQL CPU µs/change | of which each instance |`,
  );
  console.log(`|---:|---:|---:|---:|---:|---:|---:|`);
  for (const f of many.follow) {
    console.log(
      `| ${f.instances} | ${f.rate} | ${f.achieved} | ${f.commitsPerSecond} | ${f.instanceUsEach} | ${f.postgresUs} | ${f.postgresUsEach ?? "-"} |`,
    );
  }
  const d = many.delivery;
  console.log(
    `\n| delivery across ${d.instances} instances | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|\n` +
      `| CreateEvent through A → all ${d.watchers} watchers on ${d.watchedInstances} other instance(s) (${d.connections} HTTP/2 connections), ${d.creates} events | ${d.allP50Ms} | ${d.allP99Ms} | ${d.allMaxMs} |\n` +
      `| CreateEvent through A → one watcher (each of ${d.watchers * d.creates} deliveries) | ${d.eachP50Ms} | ${d.eachP99Ms} | |\n` +
      `| CreateEvent answered by A | ${d.createAnswerP50Ms} | | |\n` +
      `| CPU per event: the watchers' process (core 1) ${d.clientCpuMsPerEvent} ms, the watched instances ${d.watchedCpuMsPerEvent} ms | | | |\n` +
      `| SubmitScore answered by A → GetPlayerScore on each other instance shows it (asked every ${d.pollEveryMs} ms), ${d.scores} scores | ${d.scoreVisibleP50Ms} | ${d.scoreVisibleP99Ms} | |\n` +
      `| SubmitScore answered by A | ${d.scoreAnswerP50Ms} | | |`,
  );
  console.log(`\n| cost model | instance CPU µs | PostgreSQL CPU µs |\n|---|---:|---:|`);
  for (const c of costs)
    console.log(`| ${c.scenario}, per call | ${Math.round(c.instanceUs)} | ${Math.round(c.postgresUs)} |`);
  for (const follow of follows) {
    console.log(
      `| following ~${follow.rate} changes/s (achieved), per change and instance | ${Math.round(follow.instanceUs)} | ${Math.round(follow.postgresUs)} |`,
    );
  }
  console.log(
    `\n| mix | req/s | changes/s | instance µs/call | PostgreSQL µs/call | following (cost at) | following, share of a core | instance cores (instances) | PostgreSQL cores |`,
  );
  console.log(`|---|---:|---:|---:|---:|---:|---:|---:|---:|`);
  for (const c of capacity) {
    console.log(
      `| ${c.mix} | ${c.rps} | ${c.changesPerSecond} | ${c.instanceUsPerCall} | ${c.postgresUsPerCall} | ${c.followRate ?? "-"}/s | ${c.followingShare} | ${c.instanceCores ?? "out of reach"} (${c.instances ?? "-"}) | ${c.postgresCores ?? "-"} |`,
    );
  }
}

/**
 * Prints the tables, the ratios to the peers, PostgreSQL against SQLite, and the many-instances figures with the
 * capacity model; writes bench/results/<name>.json and .svg.
 */
export function writeReport(
  results: Result[],
  comparisons: Comparisons,
  many: ManyInstances,
  setup: Record<string, unknown> & { quick: boolean },
) {
  const costs = callCosts(many.spread);
  const follows = followCosts(many.follow);
  const capacity = MIXES.flatMap((mix) => TARGETS.map((rps) => capacityOf(costs, follows, mix, rps)));
  printInstances(many, costs, follows, capacity);
  mkdirSync("bench/results", { recursive: true });
  const name = setup.quick ? "quick" : "latest";
  const report = { date: new Date().toISOString(), node: process.version, setup, results, ...comparisons };
  const instances = { ...many, costs, follows, capacity };
  writeFileSync(`bench/results/${name}.json`, `${JSON.stringify({ ...report, instances }, null, 2)}\n`);
  writeFileSync(`bench/results/${name}.svg`, svgChart(results));
  console.log(`\nwrote bench/results/${name}.json and bench/results/${name}.svg`);
}
