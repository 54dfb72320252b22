// The capacity model: measured CPU per call and per followed change, turned into cores for a target throughput.
// See bench/README.md, "Capacity model".
import type { FollowResult } from "./follow.js";
import type { InstancesResult } from "./instances.js";

/** A mix of calls: each scenario's share of the requests (the shares add up to 1). */
export interface Mix {
  name: string;
  shares: Record<string, number>;
}

/** The scenario whose every call logs one change that every instance reads. */
const WRITE = "SubmitScore Connect JSON";

/** The mixes of the model; the scenarios are those of the many-instances section. */
export const MIXES: Mix[] = [
  {
    name: "read-heavy: 80% GetEvent, 10% ListEvents, 10% SubmitScore",
    shares: { "GetEvent gRPC": 0.8, "ListEvents 50 Connect JSON": 0.1, [WRITE]: 0.1 },
  },
  {
    name: "write-heavy: 45% GetEvent, 5% ListEvents, 50% SubmitScore",
    shares: { "GetEvent gRPC": 0.45, "ListEvents 50 Connect JSON": 0.05, [WRITE]: 0.5 },
  },
];

export const TARGETS = [50_000, 100_000];

/** One call's CPU µs with one instance: the instances' and PostgreSQL's. */
export interface CallCost {
  scenario: string;
  instanceUs: number;
  postgresUs: number;
}

/** What one more instance costs per change it follows (reads and applies), at a rate of changes. */
export interface FollowCost {
  rate: number;
  instanceUs: number;
  postgresUs: number;
}

const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / Math.max(1, values.length);

/**
 * Each call's cost: the mean over the numbers of instances measured. What an instance adds by reading the others'
 * changes is counted apart (followCost), so the write's cost is the one with one instance (which reads its own change).
 */
export function callCosts(results: InstancesResult[]): CallCost[] {
  const scenarios = [...new Set(results.map((r) => r.scenario))];
  return scenarios.map((scenario) => {
    const all = results.filter((r) => r.scenario === scenario);
    const rows = scenario === WRITE ? all.filter((r) => r.instances === 1) : all;
    return {
      scenario,
      instanceUs: mean(rows.map((r) => r.instanceUs)),
      postgresUs: mean(rows.map((r) => r.postgresUs)),
    };
  });
}

/** The following cost at each rate asked for (the mean over the numbers of instances), by rate achieved. */
export function followCosts(results: FollowResult[]): FollowCost[] {
  const following = results.filter((r) => r.instances > 0);
  return [...new Set(following.map((r) => r.rate))]
    .map((asked) => {
      const rows = following.filter((r) => r.rate === asked);
      return {
        rate: Math.round(mean(rows.map((r) => r.achieved))),
        instanceUs: mean(rows.map((r) => r.instanceUsEach)),
        postgresUs: mean(rows.map((r) => r.postgresUsEach ?? 0)),
      };
    })
    .sort((a, b) => a.rate - b.rate);
}

/**
 * The cost of following, per instance and change, at `changesPerSecond`: as measured at the highest rate not above
 * it (or the lowest rate measured). Each read takes whatever was committed since the last one, so the higher the
 * rate, the more changes a read takes and the less each costs: for a rate above the one measured, the figure is an
 * upper bound.
 */
export function followCost(costs: FollowCost[], changesPerSecond: number): FollowCost | undefined {
  return costs.filter((c) => c.rate <= changesPerSecond).at(-1) ?? costs[0];
}

/** The cores a mix needs at a throughput. */
export interface Capacity {
  mix: string;
  rps: number;
  /** Changes every instance reads per second (the scores). */
  changesPerSecond: number;
  /** CPU µs of an average call with one instance: the instances' and PostgreSQL's. */
  instanceUsPerCall: number;
  postgresUsPerCall: number;
  /** The following cost used (measured at this rate of changes), and the share of each instance's core it takes. */
  followRate: number | undefined;
  followingShare: number;
  /** Instance cores (one Node process a core: also the number of instances, rounded up). */
  instanceCores: number | undefined;
  instances: number | undefined;
  postgresCores: number | undefined;
}

/**
 * Solves N = R × A + (N − 1) × W × f for the instance cores N (one instance a core): R requests/s of A instance µs
 * each (with one instance), and W changes/s that each of the N − 1 other instances reads at f µs each. PostgreSQL:
 * R × P + (N − 1) × W × g. No solution (W × f ≥ 1) means that following the others would take an instance's whole core.
 */
export function capacityOf(costs: CallCost[], follows: FollowCost[], mix: Mix, rps: number): Capacity {
  const weighted = (pick: (c: CallCost) => number) =>
    costs.reduce((s, c) => s + (mix.shares[c.scenario] ?? 0) * pick(c), 0);
  const a = weighted((c) => c.instanceUs) / 1e6;
  const p = weighted((c) => c.postgresUs) / 1e6;
  const changes = rps * (mix.shares[WRITE] ?? 0);
  const follow = followCost(follows, changes);
  const f = (follow?.instanceUs ?? 0) / 1e6;
  const g = (follow?.postgresUs ?? 0) / 1e6;
  const share = changes * f;
  const round1 = (x: number) => Math.round(x * 10) / 10;
  const base = {
    mix: mix.name,
    rps,
    changesPerSecond: changes,
    instanceUsPerCall: Math.round(a * 1e6),
    postgresUsPerCall: Math.round(p * 1e6),
    followRate: follow?.rate,
    followingShare: Math.round(share * 100) / 100,
  };
  if (share >= 1) return { ...base, instanceCores: undefined, instances: undefined, postgresCores: undefined };
  const cores = Math.max(1, (rps * a - share) / (1 - share));
  return {
    ...base,
    instanceCores: round1(cores),
    instances: Math.ceil(cores),
    postgresCores: round1(rps * p + (Math.ceil(cores) - 1) * changes * g),
  };
}
