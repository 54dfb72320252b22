import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createGrpcTransport } from "@connectrpc/connect-node";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChildServer, spawnServer } from "./support/child-server.js";
import { bearer, eventClients } from "./support/clients.js";
import { backendEnv, testBackend } from "./support/server.js";

// Hostile recurrence rules and bursts of writes against the real server in its own process: no rule may freeze it
// (a frozen child cannot freeze the test), every call answers within a deadline, and /health keeps answering.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/**
 * How long a create may take: its walks are ended at 500 ms each on the server's workers, and
 * two busy cores can stretch that several times; a rule that froze the server would never answer.
 */
const WALK_BOUND_MS = 5000;
let dir: string;
let server: ChildServer;
let operator: string;
let viewer: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "liveops-rules-"));
  const dbPath = join(dir, "liveops.db");
  const backend = await backendEnv(dbPath);
  const createKey = (role: string) =>
    execFileSync(
      process.execPath,
      ["--import", "tsx", "src/keys/cli.ts", "create", "--role", role, "--name", role, "--create"],
      {
        env: { ...process.env, ...backend },
        encoding: "utf8",
      },
    ).trim();
  operator = createKey("operator");
  viewer = createKey("viewer");
  server = await spawnServer({ DB_PATH: dbPath });
}, 60_000);

afterAll(async () => {
  server?.child.kill("SIGKILL");
  await server?.exited;
  rmSync(dir, { recursive: true, force: true });
});

/** A Connect JSON call: its code ("ok" or the error code), its answer and how long it took; "timeout" past `ms`. */
async function call(method: string, body: unknown, key = operator, ms = 5000) {
  const started = performance.now();
  try {
    const res = await fetch(`${server.baseUrl}/liveops.v1.${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(ms),
    });
    const answer = (await res.json()) as Record<string, unknown>;
    const code = res.ok ? "ok" : String(answer.code);
    return { code, answer, ms: performance.now() - started };
  } catch (err) {
    if (err instanceof Error && err.name === "TimeoutError") return { code: "timeout", answer: {}, ms };
    throw err;
  }
}

/** Runs `work` while /health is asked every 10 ms; the slowest /health answer (ms) with work's result. */
async function withHealthWatch<T>(work: () => Promise<T>): Promise<{ result: T; slowestHealthMs: number }> {
  let slowest = 0;
  let done = false;
  const poll = (async () => {
    while (!done) {
      const started = performance.now();
      const res = await fetch(`${server.baseUrl}/health`, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      slowest = Math.max(slowest, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  try {
    return { result: await work(), slowestHealthMs: slowest };
  } finally {
    done = true;
    await poll;
  }
}

const iso = (ms: number) => new Date(ms).toISOString();
const createRecurring = (rule: string, startTime: number, runDurationMs: number, ms?: number) =>
  call(
    "EventAdminService/CreateEvent",
    {
      event: {
        title: "rule",
        startTime: iso(startTime),
        recurrence: { rule, runDuration: `${runDurationMs / 1000}s` },
      },
    },
    operator,
    ms,
  );

/** A rule part's values, absent three times in four. */
const list = <T>(arb: fc.Arbitrary<T>, max: number) =>
  fc.oneof(
    { arbitrary: fc.constant(null), weight: 3 },
    { arbitrary: fc.uniqueArray(arb, { minLength: 1, maxLength: max }), weight: 1 },
  );
const signed = (max: number) => fc.integer({ min: 1, max }).chain((n) => fc.constantFrom(n, -n));

/** A rule of random parts, and a start built from the parts' first values (so that many are walked). */
const ruleAndStart = fc
  .record({
    freq: fc.constantFrom("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY"),
    interval: fc.option(fc.oneof(fc.integer({ min: 1, max: 60 }), fc.constantFrom(100, 1000, 9999))),
    byMonth: list(fc.integer({ min: 1, max: 12 }), 3),
    byMonthDay: list(signed(31), 3),
    byYearDay: list(signed(366), 2),
    byWeekNo: list(signed(53), 2),
    byDay: list(
      fc.tuple(fc.option(signed(5), { freq: 2 }), fc.constantFrom("MO", "TU", "WE", "TH", "FR", "SA", "SU")),
      3,
    ),
    byHour: list(fc.integer({ min: 0, max: 23 }), 3),
    byMinute: list(fc.integer({ min: 0, max: 59 }), 3),
    bySecond: list(fc.integer({ min: 0, max: 59 }), 2),
    bySetPos: list(signed(10), 2),
    end: fc.oneof(
      fc.constant(""),
      fc.integer({ min: 1, max: 6000 }).map((n) => `COUNT=${n}`),
      fc.integer({ min: 2027, max: 9999 }).map((y) => `UNTIL=${y}0101T000000Z`),
    ),
    year: fc.integer({ min: 2026, max: 2030 }),
    durationS: fc.integer({ min: 60, max: 3 * 86_400 }),
  })
  .map((r) => {
    const parts = [`FREQ=${r.freq}`];
    const add = (name: string, values: readonly (number | string)[] | null | undefined) => {
      if (values) parts.push(`${name}=${values.join(",")}`);
    };
    add("INTERVAL", r.interval === null ? null : [r.interval]);
    add("BYMONTH", r.byMonth);
    add("BYMONTHDAY", r.byMonthDay);
    add("BYYEARDAY", r.byYearDay);
    add("BYWEEKNO", r.byWeekNo);
    add(
      "BYDAY",
      r.byDay?.map(([n, day]) => `${n ?? ""}${day}`),
    );
    add("BYHOUR", r.byHour);
    add("BYMINUTE", r.byMinute);
    add("BYSECOND", r.bySecond);
    add("BYSETPOS", r.bySetPos);
    if (r.end) parts.push(r.end);
    // The first day from the first BYMONTHDAY on (or the 1st) that is one of the BYDAY weekdays.
    const month = r.byMonth?.[0] ?? 1;
    const weekdays = r.byDay?.map(([, day]) => ["SU", "MO", "TU", "WE", "TH", "FR", "SA"].indexOf(day));
    let date = Date.UTC(r.year, month - 1, Math.min(Math.max(1, r.byMonthDay?.[0] ?? 1), 28));
    while (weekdays && !weekdays.includes(new Date(date).getUTCDay())) date += DAY;
    const time = ((r.byHour?.[0] ?? 0) * 3600 + (r.byMinute?.[0] ?? 0) * 60 + (r.bySecond?.[0] ?? 0)) * 1000;
    return { rule: parts.join(";"), start: date + time, durationMs: r.durationS * 1000 };
  });

describe("recurrence rules from an operator", () => {
  it.each([
    // The audit's three: an endless loop in rrule, then two walks of seconds.
    ["an INTERVAL that never meets BYHOUR", "FREQ=HOURLY;INTERVAL=2;BYHOUR=1", Date.UTC(2026, 0, 1, 0)],
    ["the 31st of February", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31", Date.UTC(2026, 1, 28)],
    ["week 53 on Mondays", "FREQ=WEEKLY;BYWEEKNO=53;BYDAY=MO", Date.UTC(2026, 11, 28)],
    [
      "a 29th of February on a Monday, every minute",
      "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
      Date.UTC(2044, 1, 29),
    ],
  ])("answers %s within seconds, and the server keeps serving", async (_name, rule, start) => {
    const { result, slowestHealthMs } = await withHealthWatch(() => createRecurring(rule, start, HOUR, 10_000));
    expect(["ok", "invalid_argument"]).toContain(result.code);
    expect(result.ms).toBeLessThan(WALK_BOUND_MS);
    expect(slowestHealthMs).toBeLessThan(250);
  });

  it("answers every generated rule within its deadline, never INTERNAL, while /health keeps answering", async () => {
    const outcomes = new Map<string, number>();
    const { slowestHealthMs } = await withHealthWatch(() =>
      fc.assert(
        fc.asyncProperty(ruleAndStart, async ({ rule, start, durationMs }) => {
          const created = await createRecurring(rule, start, durationMs, 10_000);
          outcomes.set(created.code, (outcomes.get(created.code) ?? 0) + 1);
          expect(["ok", "invalid_argument"], `${rule} from ${iso(start)}: ${JSON.stringify(created.answer)}`).toContain(
            created.code,
          );
          expect(created.ms).toBeLessThan(WALK_BOUND_MS);
          if (created.code !== "ok") return;
          const id = (created.answer.event as { id: string }).id;
          // What was stored reads back on every path that encodes it as JSON.
          const window = { eventId: id, startTime: iso(start), endTime: iso(start + 3650 * DAY), pageSize: 100 };
          const runs = await call("EventService/ListEventRuns", window, viewer);
          expect(["ok", "failed_precondition"]).toContain(runs.code);
          expect((await call("EventService/GetEvent", { id }, viewer)).code).toBe("ok");
          expect((await call("EventService/ListEvents", { pageSize: 5 }, viewer)).code).toBe("ok");
          expect((await call("EventAdminService/DeleteEvent", { id })).code).toBe("ok");
        }),
        { numRuns: 100 },
      ),
    );
    expect(slowestHealthMs).toBeLessThan(250);
    console.log(
      `generated rules: ${JSON.stringify(Object.fromEntries(outcomes))}; slowest /health ${slowestHealthMs.toFixed(0)} ms`,
    );
    // The generator reaches both outcomes, so the property tests walks and refusals alike.
    expect(outcomes.get("ok")).toBeGreaterThan(0);
    expect(outcomes.get("invalid_argument")).toBeGreaterThan(0);
  }, 120_000);
});

/** The transactions and writes the group commit has committed so far, from /metrics. */
async function commits(): Promise<{ transactions: number; writes: number }> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  return { transactions: value("liveops_write_batch_size_count"), writes: value("liveops_write_batch_size_sum") };
}

describe("a burst of writes", () => {
  // Group commit is SQLite's: on PostgreSQL each unit is a transaction of its own.
  it.skipIf(testBackend === "postgres")(
    "shares commits: 100 concurrent creates of one-off events take far fewer transactions",
    async () => {
      // Over one HTTP/2 connection, as a game backend's client sends them: they arrive together.
      const { admin } = eventClients(
        createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(operator)] }),
      );
      const now = Date.now();
      const before = await commits();
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          admin.createEvent({
            event: {
              title: `burst ${i}`,
              startTime: timestampFromMs(now + HOUR),
              endTime: timestampFromMs(now + 2 * HOUR),
            },
          }),
        ),
      );
      const after = await commits();
      // The 100 creates, and at most a few other writes of the same moments (a key's last-used time, once a minute).
      expect(after.writes - before.writes).toBeGreaterThanOrEqual(100);
      expect(after.writes - before.writes).toBeLessThanOrEqual(105);
      console.log(`100 one-off creates in ${after.transactions - before.transactions} transactions`);
      expect(after.transactions - before.transactions).toBeLessThan(50);
    },
  );

  it("never makes reads wait behind a burst of heavy writes", async () => {
    const before = await commits();
    const now = Date.now();
    const start = Math.ceil(now / 60_000) * 60_000 + 60_000;
    const { answer } = await call("EventAdminService/CreateEvent", {
      event: { title: "read me", startTime: iso(now - HOUR), endTime: iso(now + HOUR) },
    });
    const id = (answer.event as { id: string }).id;
    let writing = true;
    const reads: number[] = [];
    const reader = (async () => {
      while (writing) reads.push((await call("EventService/GetEvent", { id }, viewer)).ms);
    })();
    // 100 open-ended every-minute events at once: each plans 1,000 runs.
    // Each create stores 1,000 runs and writes of events take turns (one SQLite writer; the change log's lock on
    // PostgreSQL): on a loaded machine the burst takes seconds. What is held to a bound is that reads do not wait.
    const writeBudgetMs = 30_000;
    const writes = await Promise.all(
      Array.from({ length: 100 }, () => createRecurring("FREQ=MINUTELY", start, 30_000, writeBudgetMs)),
    );
    writing = false;
    await reader;
    const after = await commits();
    const transactions = after.transactions - before.transactions;
    expect(writes.filter((w) => w.code !== "ok").map((w) => w.answer)).toEqual([]);
    reads.sort((a, b) => a - b);
    const slowestRead = reads.at(-1) ?? 0;
    const slowestWrite = Math.max(...writes.map((w) => w.ms));
    console.log(
      `100 creates in ${transactions} transactions, slowest ${slowestWrite.toFixed(0)} ms; ${reads.length} reads meanwhile, slowest ${slowestRead.toFixed(0)} ms`,
    );
    // A read queued behind the burst would wait seconds; on two loaded cores one read may still be descheduled for a
    // moment, so the bound is on the 95th percentile, with the slowest far below the burst.
    const p95 = reads[Math.floor(reads.length * 0.95)] ?? slowestRead;
    expect(p95).toBeLessThan(250);
    expect(slowestRead).toBeLessThan(1500);
  }, 60_000);

  it("bounds a page of an open-ended every-minute rule's runs, however far its window", async () => {
    const start = Math.ceil(Date.now() / 60_000) * 60_000 + 60_000;
    const created = await createRecurring("FREQ=MINUTELY", start, 30_000);
    const id = (created.answer.event as { id: string }).id;
    const times: number[] = [];
    for (let i = 0; i < 30; i++) {
      const from = start + (i + 1) * 365 * DAY;
      const page = await call(
        "EventService/ListEventRuns",
        { eventId: id, startTime: iso(from), endTime: iso(from + DAY), pageSize: 100 },
        viewer,
      );
      expect(page.code).toBe("ok");
      times.push(page.ms);
    }
    times.sort((a, b) => a - b);
    console.log(`ListEventRuns far ahead: p50 ${times[15]?.toFixed(1)} ms, max ${times.at(-1)?.toFixed(1)} ms`);
    // A walk from the rule's start to a window years ahead would take seconds a page (half a million minutes a year).
    // Bounded on the median: on two loaded cores one call of 30 may lose the core for most of a second.
    expect(times[15]).toBeLessThan(250);
    expect(times.at(-1)).toBeLessThan(1500);
  }, 60_000);
});
