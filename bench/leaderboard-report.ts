// The report of the "board of a million players" section (bench/leaderboards.ts): what it measured, the ratios to
// the Redis peer, its tables and its JSON file.
import { mkdirSync, writeFileSync } from "node:fs";
import type { LoadRound } from "./leaderboard-load.js";

/** The Redis peer's name in the rows. */
export const REDIS = "Redis (appendfsync always)";
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const round2 = (x: number) => Math.round(x * 100) / 100;

/** Start-up and memory of one backend. */
export interface BoardStartup {
  backend: string;
  /** Seeding the entries through SQL, ms. */
  seedMs: number;
  /**
   * The product's own rebuild (ScoreStore.boardOf, what start-up runs for each live board) in the bench process on
   * core 1 with every server idle: wall and CPU ms; heap + array buffers it keeps, per entry. The target's figure.
   */
  inProcess: {
    ms: number;
    cpuMs: number;
    bytesPerEntry: number;
    operationsUs: { entryOf: number; around: number; top10: number; apply: number };
  };
  /** From spawn to the first GetPlayerScore answer of the server (it listens once its live boards are read). */
  startMs: number;
  /** The CPU time the server used until then, ms. */
  startCpuMs: number;
  /** Its RSS once answering, MB. */
  rssMb: number;
  /** Full runs: the same server on a database with the competition and no entry, and the differences per entry. */
  empty?: {
    startMs: number;
    startCpuMs: number;
    rssMb: number;
    startDifferenceMs: number;
    startCpuDifferenceMs: number;
    rssBytesPerEntry: number;
  };
}

/** One row of one server, each round's figures. */
export interface BoardRow {
  server: string;
  row: string;
  /** The product's method whose work the row does (the Redis peer's rows do it with their script). */
  method: string;
  inFlight: number;
  rounds: LoadRound[];
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** The server's CPU per call, µs (median of the rounds). */
  serverUs: number;
}

/** A row of liveops against the same row of the Redis peer. */
export interface BoardRatio {
  name: string;
  roundRatios: number[];
  medianRoundRatio: number;
  /** Redis's CPU per call over liveops': the throughput ratio each would have on a core of its own. */
  roundCpuRatios: number[];
  medianCpuRatio: number;
}

/** Everything the section measured. */
export interface LeaderboardSection {
  quick: boolean;
  entries: number;
  startup: BoardStartup[];
  redis?: { seedMs: number; restartMs: number; usedBytesPerEntry: number; rssBytesPerEntry: number };
  /** Why the Redis rows are missing, if they are. */
  redisSkipped?: string;
  rows: BoardRow[];
  ratios: BoardRatio[];
  setup: string;
  /** /proc/loadavg when the section started and ended: this machine is shared, and its load weighs on every figure. */
  load: string[];
}

/** Each liveops row against the Redis row of the same call and concurrency, round by round. */
export function ratiosOf(rows: BoardRow[]): BoardRatio[] {
  return rows.flatMap((ours) => {
    if (ours.server === REDIS) return [];
    const peer = rows.find((r) => r.server === REDIS && r.inFlight === ours.inFlight && r.method === ours.method);
    if (!peer) return [];
    const roundRatios = ours.rounds.map((x, i) => round2(x.rps / (peer.rounds[i]?.rps ?? Number.NaN)));
    const roundCpuRatios = ours.rounds.map((x, i) =>
      round2((peer.rounds[i]?.serverUs ?? Number.NaN) / (x.serverUs ?? 0)),
    );
    return [
      {
        name: `${ours.server} / Redis: ${ours.row}`,
        roundRatios,
        medianRoundRatio: median(roundRatios),
        roundCpuRatios,
        medianCpuRatio: median(roundCpuRatios),
      },
    ];
  });
}

export function printSection(section: LeaderboardSection) {
  const e = section.entries.toLocaleString("en");
  console.log(
    `\n| backend | seed ms | board rebuild in process: ms (CPU ms), target < 5,000 | board B/entry (heap + buffers) | server answers after spawn: ms, CPU ms (empty board) | RSS MB (empty board) | RSS B/entry |\n|---|---:|---:|---:|---:|---:|---:|`,
  );
  for (const s of section.startup) {
    const met = s.inProcess.ms < 5_000 ? "✓" : "✗";
    const empty = s.empty;
    console.log(
      `| ${s.backend} | ${s.seedMs} | ${s.inProcess.ms} (${s.inProcess.cpuMs}) ${met} | ${s.inProcess.bytesPerEntry} | ${s.startMs}, ${s.startCpuMs} (${empty ? `${empty.startMs}, ${empty.startCpuMs}` : "–"}) | ${s.rssMb} (${empty?.rssMb ?? "–"}) | ${empty?.rssBytesPerEntry ?? "–"} |`,
    );
  }
  if (section.redis) {
    const r = section.redis;
    console.log(
      `| Redis (appendfsync always) | ${r.seedMs} | restart: ${r.restartMs} (the AOF read back) | used_memory ${r.usedBytesPerEntry} | | | ${r.rssBytesPerEntry} |`,
    );
  } else {
    console.log(`(Redis rows skipped: ${section.redisSkipped})`);
  }
  console.log(
    `\n| board in process, CPU µs per call | rank (entryOf) | 11 around a player | top 10 | a score applied |\n|---|---:|---:|---:|---:|`,
  );
  for (const s of section.startup) {
    const o = s.inProcess.operationsUs;
    console.log(`| ${s.backend} | ${o.entryOf} | ${o.around} | ${o.top10} | ${o.apply} |`);
  }
  console.log(
    `\n${e} entries; ${section.setup}; load average ${section.load.join(" → ")}\n\n| server | row | calls/s (rounds) | p50 ms | p99 ms | server CPU µs/call (rounds) | load generator busy |\n|---|---|---:|---:|---:|---:|---:|`,
  );
  for (const r of section.rows) {
    const target = r.inFlight === 1 ? ` ${r.p99Ms < 1 ? "✓" : "✗"} (< 1 ms)` : "";
    const cpu = `${r.serverUs} (${r.rounds.map((x) => x.serverUs).join(", ")})`;
    console.log(
      `| ${r.server} | ${r.row} | ${r.rps} (${r.rounds.map((x) => x.rps).join(", ")}) | ${r.p50Ms} | ${r.p99Ms}${target} | ${cpu} | ${median(r.rounds.map((x) => x.generatorBusy))} |`,
    );
  }
  const silent = section.rows.filter((r) => r.rounds.some((x) => x.rps === 0));
  if (silent.length > 0) {
    // A round in which no call came back measured nothing: its ratio of 0 says only that the row was too short.
    console.log(
      `\nno call came back within a round of: ${silent.map((r) => `${r.server} ${r.row}`).join("; ")} — the calls in flight took longer than the row (quick rows last a second); their ratios of 0 measure nothing`,
    );
  }
  console.log(
    `\n| comparison | calls/s: round ratios (median) | CPU per call, inverted: rounds (median) |\n|---|---|---|`,
  );
  for (const r of section.ratios) {
    const list = (values: number[]) => values.map((x) => `${x}×`).join(", ");
    console.log(
      `| ${r.name} | ${list(r.roundRatios)} (**${r.medianRoundRatio}×**) | ${list(r.roundCpuRatios)} (${r.medianCpuRatio}×) |`,
    );
  }
}

/** Prints the section's tables again (for the end of a run) and writes bench/results/<quick|latest>.leaderboards.json. */
export function reportLeaderboards(section: LeaderboardSection) {
  console.log("\na board of a million players (bench/leaderboards.ts):");
  printSection(section);
  mkdirSync("bench/results", { recursive: true });
  const file = `bench/results/${section.quick ? "quick" : "latest"}.leaderboards.json`;
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, ...section }, null, 2)}\n`,
  );
  console.log(`wrote ${file}`);
}
