// The comparisons `npm run bench` prints after its main rows: each row against its peer, with issue 19's targets,
// and PostgreSQL against SQLite. See bench/README.md.
import type { Result } from "./report.js";

/** A comparison of two rows: ours against theirs, and the least ratio wanted (issue 19), if any. */
interface Pair {
  name: string;
  ours: [string, string];
  theirs: [string, string];
  target?: number;
}

const GET_EVENT_GRPC = "GetEvent gRPC (h2c)";
const pairs: Pair[] = [
  {
    name: "durable SubmitScore: group commit (200 in flight) vs a transaction per request",
    ours: ["liveops", "SubmitScore 200 in flight (h2c)"],
    theirs: ["liveops", "SubmitScore one at a time (h2c)"],
  },
  {
    name: "gRPC GetEvent vs grpc-js doing the same work",
    ours: ["liveops", GET_EVENT_GRPC],
    theirs: ["grpc-js", GET_EVENT_GRPC],
    target: 1.2,
  },
  {
    name: "gRPC GetEvent vs grpc-js with a key-checking interceptor",
    ours: ["liveops", GET_EVENT_GRPC],
    theirs: ["grpc-js (key check)", GET_EVENT_GRPC],
    target: 1.2,
  },
  {
    name: "Connect JSON GetEvent (HTTP/1.1) vs Fastify",
    ours: ["liveops", "GetEvent Connect JSON (HTTP/1.1)"],
    theirs: ["fastify", "GET /events/{id} (HTTP/1.1)"],
    target: 1.0,
  },
  {
    name: "REST GET /events/{id} (HTTP/1.1) vs Fastify",
    ours: ["liveops", "GET /events/{id} (HTTP/1.1)"],
    theirs: ["fastify", "GET /events/{id} (HTTP/1.1)"],
    target: 1.0,
  },
  {
    name: "ListEvents 50 (HTTP/1.1) vs Fastify listing the same page",
    ours: ["liveops", "ListEvents 50 Connect JSON (HTTP/1.1)"],
    theirs: ["fastify", "GET /events?page_size=50 (HTTP/1.1)"],
    target: 1.0,
  },
  {
    name: "ListEvents 50 (h2c) vs Fastify listing the same page (HTTP/1.1)",
    ours: ["liveops", "ListEvents 50 Connect JSON (h2c)"],
    theirs: ["fastify", "GET /events?page_size=50 (HTTP/1.1)"],
  },
  {
    name: "gRPC GetEvent vs bare node:http2",
    ours: ["liveops", GET_EVENT_GRPC],
    theirs: ["bare-h2", "fixed response (h2c)"],
    target: 0.7,
  },
  {
    name: "Connect JSON GetEvent (h2c) vs bare node:http2",
    ours: ["liveops", "GetEvent Connect JSON (h2c)"],
    theirs: ["bare-h2", "fixed response (h2c)"],
    target: 0.7,
  },
];

/** Rows with a least number of requests per second wanted (issue 19: ten times 240). */
const rateTargets: { name: string; row: [string, string]; rps: number }[] = [
  {
    name: "ListEvents, pages of 50, 20 in flight (SQLite)",
    row: ["liveops", "ListEvents 50 Connect JSON (h2c)"],
    rps: 2400,
  },
];

/** The workloads run on both backends: the SQLite row is server "liveops", the PostgreSQL one "liveops (PostgreSQL)". */
const backendScenarios: [string, string][] = [
  ["GetEvent, gRPC (h2c)", "GetEvent gRPC (h2c)"],
  ["ListEvents, pages of 50, Connect JSON (h2c)", "ListEvents 50 Connect JSON (h2c)"],
  ["CreateEvent, Connect JSON (h2c), 200 in flight", "CreateEvent Connect JSON (h2c)"],
  ["durable SubmitScore, one at a time", "SubmitScore one at a time (h2c)"],
  ["durable SubmitScore, 200 in flight", "SubmitScore 200 in flight (h2c)"],
];

const round2 = (x: number) => Math.round(x * 100) / 100;
const medianOf = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];

/** The ratio of each round pair (measured minutes apart at most), steadier than the ratio of the medians. */
function roundRatios(a: Result, b: Result): number[] {
  return a.roundsRps.map((rps, i) => round2(rps / (b.roundsRps[i] ?? Number.NaN)));
}

/** What the comparisons found, for the report's JSON. */
export type Comparisons = ReturnType<typeof compare>;

/** Prints the rows, each comparison with its target and whether it was met, and PostgreSQL against SQLite. */
export function compare(results: Result[]) {
  console.log(`\n| server | scenario | req/s | p50 ms | p99 ms | peak RSS MB |`);
  console.log(`|---|---|---:|---:|---:|---:|`);
  for (const r of results) {
    console.log(
      `| ${r.server} | ${r.scenario} | ${r.rps} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.peakRssMb} |`,
    );
  }
  const find = ([server, scenario]: [string, string]) =>
    results.find((r) => r.server === server && r.scenario === scenario);
  // A target is judged on the median of the round ratios, steadier than the ratio of the medians.
  const ratios = pairs.map(({ name, ours, theirs, target }) => {
    const a = find(ours);
    const b = find(theirs);
    if (!a || !b)
      return { name, target, ratio: undefined, roundRatios: [], medianRoundRatio: undefined, met: undefined };
    const rounds = roundRatios(a, b);
    const medianRoundRatio = medianOf(rounds);
    const met = target === undefined || medianRoundRatio === undefined ? undefined : medianRoundRatio >= target;
    return { name, target, ratio: round2(a.rps / b.rps), roundRatios: rounds, medianRoundRatio, met };
  });
  const verdict = (met: boolean | undefined) => (met === undefined ? "" : met ? "met" : "NOT met");
  console.log(`\n| comparison | target | ratio of medians | median of round ratios | round ratios | |`);
  console.log(`|---|---:|---:|---:|---|---|`);
  for (const r of ratios) {
    console.log(
      `| ${r.name} | ${r.target === undefined ? "-" : `≥ ${r.target.toFixed(1)}×`} | ${r.ratio ?? "-"}× | ${r.medianRoundRatio ?? "-"}× | ${r.roundRatios.map((x) => `${x}×`).join(", ")} | ${verdict(r.met)} |`,
    );
  }
  const rates = rateTargets.map(({ name, row, rps }) => {
    const found = find(row);
    return { name, target: rps, rps: found?.rps, roundsRps: found?.roundsRps ?? [], met: found && found.rps >= rps };
  });
  for (const r of rates) {
    console.log(
      `| ${r.name} | ≥ ${r.target.toLocaleString("en")} req/s | ${r.rps ?? "-"} req/s | | ${r.roundsRps.join(", ")} | ${verdict(r.met)} |`,
    );
  }
  const backends = backendScenarios.flatMap(([name, scenario]) => {
    const sqlite = find(["liveops", scenario]);
    const postgres = find(["liveops (PostgreSQL)", scenario]);
    if (!sqlite || !postgres) return [];
    const rounds = roundRatios(postgres, sqlite);
    return [
      {
        name,
        sqliteRps: sqlite.rps,
        postgresRps: postgres.rps,
        ratio: round2(postgres.rps / sqlite.rps),
        roundRatios: rounds,
        medianRoundRatio: medianOf(rounds),
        sqliteP50Ms: sqlite.p50Ms,
        postgresP50Ms: postgres.p50Ms,
      },
    ];
  });
  console.log(
    `\n| SQLite vs PostgreSQL | SQLite req/s | PostgreSQL req/s | PostgreSQL/SQLite | median of round ratios | p50 ms SQLite / PostgreSQL |`,
  );
  console.log(`|---|---:|---:|---:|---:|---:|`);
  for (const b of backends) {
    console.log(
      `| ${b.name} | ${b.sqliteRps} | ${b.postgresRps} | ${b.ratio}× | ${b.medianRoundRatio ?? "-"}× | ${b.sqliteP50Ms.toFixed(2)} / ${b.postgresP50Ms.toFixed(2)} |`,
    );
  }
  return { ratios, rates, backends };
}
