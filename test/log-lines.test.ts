import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role } from "../gen/liveops/v1/api_key_pb.js";
import { EventChangeType } from "../gen/liveops/v1/event_service_pb.js";
import { type ChildServer, spawnServer } from "./support/child-server.js";
import { connectClients } from "./support/clients.js";
import { competitionClients, leaderboard } from "./support/competition.js";
import { createKey, type Instances, startInstances, until } from "./support/instances.js";
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from "./support/postgres.js";
import {
  backendEnv,
  dropBackend,
  generousLimits,
  startTestServer,
  type TestServer,
  testBackend,
} from "./support/server.js";
import { eventually, type Watch, watchEvents } from "./support/watch.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

/** The log lines with message `msg` written since `from`, for event `eventId` when given. */
function linesOf(msg: string, eventId?: string, from = 0): Record<string, unknown>[] {
  return server.logs.slice(from).filter((l) => l.msg === msg && (eventId === undefined || l.event_id === eventId));
}

/** Waits for exactly one line `msg` of `eventId` (a line written after a commit may come a moment later). */
async function oneLine(msg: string, eventId: string): Promise<Record<string, unknown>> {
  await eventually(() => linesOf(msg, eventId).length > 0, `a "${msg}" line`);
  const lines = linesOf(msg, eventId);
  expect(lines).toHaveLength(1);
  return lines[0] as Record<string, unknown>;
}

describe("the life of a run in the log", () => {
  it("has one line each when it starts, ends, its board is finalized, prizes are granted and claimed", async () => {
    const operator = competitionClients(server.baseUrl, server.keys.operator);
    const game = competitionClients(server.baseUrl, server.keys.game_server);
    const start = server.clock.now() + MINUTE;
    const prizeTiers = [
      { rankFrom: 1, rankTo: 1, rewards: [{ id: "gold", name: "Gold", quantity: 1n }] },
      { rankFrom: 2, rankTo: 2, rewards: [{ id: "silver", name: "Silver", quantity: 1n }] },
    ];
    const { event } = await operator.admin.createEvent({
      event: {
        title: "Log cup",
        startTime: timestampFromMs(start),
        endTime: timestampFromMs(start + HOUR),
        leaderboard: leaderboard({ prizeTiers }),
      },
    });
    const id = event?.id ?? "";
    expect(linesOf("run started", id)).toEqual([]);

    server.clock.set(start);
    await server.app.scheduler.idle();
    expect(await oneLine("run started", id)).toMatchObject({
      level: 30,
      event_id: id,
      run_number: 1,
      title: "Log cup",
      start_time: new Date(start).toISOString(),
      end_time: new Date(start + HOUR).toISOString(),
    });

    for (const [player, score] of [
      ["log-a", 30n],
      ["log-b", 20n],
      ["log-c", 10n],
    ] as const) {
      await game.boards.submitScore({ eventId: id, playerId: player, score });
    }
    await game.boards.joinEvent({ eventId: id, playerId: "log-d" });
    expect(linesOf("run ended", id)).toEqual([]);

    server.clock.set(start + HOUR);
    await server.app.scheduler.idle();
    expect(await oneLine("run ended", id)).toMatchObject({ event_id: id, run_number: 1, ended_early: false });
    expect(await oneLine("board finalized", id)).toMatchObject({
      run_number: 1,
      title: "Log cup",
      entries: 4,
      ranked: 3,
      winners: 2,
    });
    expect(await oneLine("prizes granted", id)).toMatchObject({ run_number: 1, players: 2, participants: 4 });

    const { grants } = await game.rewards.listRewardGrants({ playerId: "log-a" });
    const grant = grants[0];
    expect(grant?.eventId).toBe(id);
    await game.rewards.claimReward({ grantId: grant?.id ?? "" });
    await game.rewards.claimReward({ grantId: grant?.id ?? "" });
    expect(await oneLine("reward claimed", id)).toMatchObject({
      grant_id: grant?.id,
      run_number: 1,
      player_id: "log-a",
      rank: 1,
    });
    // Nothing was reported twice, however often the scheduler ran since.
    server.clock.advance(HOUR);
    await server.app.scheduler.idle();
    for (const msg of ["run started", "run ended", "board finalized", "prizes granted", "reward claimed"]) {
      expect(linesOf(msg, id), msg).toHaveLength(1);
    }
  });

  it("an event without a leaderboard logs its run's start and end, and no board", async () => {
    const { admin } = connectClients(server.baseUrl, server.keys.operator);
    const start = server.clock.now() + MINUTE;
    const { event } = await admin.createEvent({
      event: { title: "Plain sale", startTime: timestampFromMs(start), endTime: timestampFromMs(start + MINUTE) },
    });
    const id = event?.id ?? "";
    server.clock.set(start + MINUTE);
    await server.app.scheduler.idle();
    expect(await oneLine("run started", id)).toMatchObject({ title: "Plain sale" });
    expect(await oneLine("run ended", id)).toMatchObject({ title: "Plain sale" });
    expect(linesOf("board finalized", id)).toEqual([]);
  });

  it("a run ended early with EndEvent is logged once as ended early, with its board finalized", async () => {
    const operator = competitionClients(server.baseUrl, server.keys.operator);
    const game = competitionClients(server.baseUrl, server.keys.game_server);
    const start = server.clock.now();
    const { event } = await operator.admin.createEvent({
      event: {
        title: "Short cup",
        startTime: timestampFromMs(start),
        endTime: timestampFromMs(start + HOUR),
        leaderboard: leaderboard(),
      },
    });
    const id = event?.id ?? "";
    await server.app.scheduler.idle();
    await game.boards.submitScore({ eventId: id, playerId: "early-x", score: 1n });
    await operator.admin.endEvent({ id });
    // Live from its creation: started with that write (no STARTED change follows), logged once all the same.
    expect(await oneLine("run started", id)).toMatchObject({ run_number: 1, title: "Short cup" });
    expect(await oneLine("run ended", id)).toMatchObject({ run_number: 1, ended_early: true });
    expect(await oneLine("board finalized", id)).toMatchObject({ entries: 1, ranked: 1, winners: 0 });
    expect(linesOf("prizes granted", id)).toEqual([]);
  });
});

describe("call failed lines", () => {
  it("carry the error's message, code and ErrorInfo reason", async () => {
    const from = server.logs.length;
    const { events } = connectClients(server.baseUrl, server.keys.viewer);
    const missing = crypto.randomUUID();
    await events.getEvent({ id: missing }).catch(() => undefined);
    const [line] = linesOf("call failed", undefined, from);
    expect(line).toMatchObject({
      level: 40,
      method: "/liveops.v1.EventService/GetEvent",
      code: "not_found",
      error: `event ${missing} not found`,
      reason: "EVENT_NOT_FOUND",
    });
  });

  it("say what the client was told of an unexpected error, never its SQL (that is logged once, apart)", async () => {
    const broken = await startTestServer();
    try {
      const { events, admin } = connectClients(broken.baseUrl, broken.keys.operator);
      const now = broken.clock.now();
      const created = await admin.createEvent({
        event: { title: "soon broken", startTime: timestampFromMs(now), endTime: timestampFromMs(now + HOUR) },
      });
      await broken.app.storage.withTransaction((tx) => tx.run(sql`ALTER TABLE events RENAME TO events_gone`));
      await events.getEvent({ id: created.event?.id ?? "" }).catch(() => undefined);
      const failed = broken.logs.filter((l) => l.msg === "call failed");
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({ code: "internal", error: "internal error", reason: "INTERNAL" });
      expect(JSON.stringify(failed[0])).not.toMatch(/events_gone|no such table|does not exist|SELECT/i);
      expect(broken.logs.filter((l) => l.msg === "unexpected error in a call")).toHaveLength(1);
      await broken.app.storage.withTransaction((tx) => tx.run(sql`ALTER TABLE events_gone RENAME TO events`));
    } finally {
      await broken.close();
    }
  });
});

describe("the server's own output (npm start)", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "liveops-log-lines-"));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await dropBackend(join(dir, "json.db"));
    await dropBackend(join(dir, "pretty.db"));
  });

  // Each of these starts the server in a child process (tsx compiles it on start): seconds when the cores are busy.
  it("stamps every line with an ISO-8601 time and names the dashboard, metrics and first admin key", {
    timeout: 120_000,
  }, async () => {
    const dbPath = join(dir, "json.db");
    const child = await spawnServer({ DB_PATH: dbPath, INITIAL_ADMIN_KEY_FILE: join(dir, "first-key") });
    try {
      const lines = child.output.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.length).toBeGreaterThan(2);
      for (const line of lines) expect(line.time, JSON.stringify(line)).toMatch(ISO_TIME);
      const listening = lines.find((l) => l.msg === "liveops listening");
      expect(listening).toMatchObject({
        dashboard_url: `http://127.0.0.1:${child.port}/`,
        metrics_url: `http://127.0.0.1:${child.port}/metrics`,
        admin_key_file: join(dir, "first-key"),
      });
    } finally {
      child.child.kill("SIGTERM");
      await child.exited;
    }
    // Started again on the same data with the key file gone: keys exist, the line says how to see them.
    rmSync(join(dir, "first-key"));
    const again = await spawnServer({
      DB_PATH: dbPath,
      INITIAL_ADMIN_KEY_FILE: join(dir, "first-key"),
      HOST: "0.0.0.0",
    });
    try {
      const listening = again.output
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === "liveops listening");
      expect(listening).toMatchObject({
        dashboard_url: `http://localhost:${again.port}/`,
        admin_key: expect.stringContaining("npm run keys"),
      });
      expect(listening).not.toHaveProperty("admin_key_file");
    } finally {
      again.child.kill("SIGTERM");
      await again.exited;
    }
  });

  it("LOG_FORMAT=pretty prints one human line per entry, not JSON", { timeout: 90_000 }, async () => {
    const backend = await backendEnv(join(dir, "pretty.db"));
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_FORMAT: "pretty", ...generousLimits, ...backend },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      const lines: string[] = [];
      createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
      await eventually(() => lines.some((l) => l.includes("liveops listening")), "the listening line", 60_000);
      const listening = lines.find((l) => l.includes("liveops listening")) ?? "";
      expect(() => JSON.parse(listening)).toThrow();
      expect(listening).toMatch(/^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} [+-]\d{4}\] INFO: liveops listening /);
      expect(listening).toContain('"dashboard_url":"http://127.0.0.1:');
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });

  it("a bad LOG_FORMAT is one line naming the setting and its values, exit code 2, no stack trace", {
    timeout: 90_000,
  }, () => {
    const run = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts", "--log-format", "colour"], {
      env: { ...process.env, DB_PATH: join(dir, "never.db") },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(run.status).toBe(2);
    const problems = run.stderr.split("\n").filter((l) => l.includes("LOG_FORMAT"));
    expect(problems).toEqual(['  - LOG_FORMAT must be one of json, pretty, got "colour"']);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.stdout).toBe("");
  });
});

describe.skipIf(testBackend !== "postgres" || skipWithoutPostgres("the log of many instances"))(
  "two instances on one PostgreSQL",
  () => {
    let database: TestDatabase;
    let instances: Instances;
    beforeAll(async () => {
      database = await createTestDatabase();
      instances = await startInstances(database.url, 2);
    }, 90_000);
    afterAll(async () => {
      await instances?.stop();
      await database?.drop();
    });

    it("log each happening of a run once, whichever instance served the calls", { timeout: 120_000 }, async () => {
      const [a, b] = instances.servers as [ChildServer, ChildServer];
      const operatorKey = await createKey(a, instances.adminKey, Role.OPERATOR);
      const operator = competitionClients(a.baseUrl, operatorKey);
      const gameKey = await createKey(a, instances.adminKey, Role.GAME_SERVER);
      const game = competitionClients(b.baseUrl, gameKey);
      const lines = (server: ChildServer) =>
        server.output.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
      const everywhere = (msg: string, eventId: string) =>
        instances.servers.flatMap(lines).filter((l) => l.msg === msg && l.event_id === eventId);
      // Both instances follow every change: each must see the run start and end, and still it is logged once.
      const watches = [a, b].map((server) => watchEvents(connectClients(server.baseUrl, operatorKey).events));
      try {
        await Promise.all(watches.map((watch) => watch.synced()));
        // Started by the scheduler's leader a moment from now; ended by EndEvent, not by the clock, so that a slow
        // machine cannot end the run before its score is in.
        const { event } = await operator.admin.createEvent({
          event: {
            title: "Fleet cup",
            startTime: timestampFromMs(Date.now() + 1000),
            endTime: timestampFromMs(Date.now() + HOUR),
            leaderboard: leaderboard({
              prizeTiers: [{ rankFrom: 1, rankTo: 1, rewards: [{ id: "gem", name: "Gem", quantity: 1n }] }],
            }),
          },
        });
        const id = event?.id ?? "";
        await until("the run starts", () => everywhere("run started", id).length > 0, 60_000);
        await game.boards.submitScore({ eventId: id, playerId: "fleet-a", score: 5n });
        await competitionClients(b.baseUrl, operatorKey).admin.endEvent({ id });
        await until("prizes are granted", () => everywhere("prizes granted", id).length > 0, 30_000);
        const { grants } = await game.rewards.listRewardGrants({ eventId: id });
        // One claim on each instance: only the first is logged.
        await competitionClients(a.baseUrl, gameKey).rewards.claimReward({ grantId: grants[0]?.id ?? "" });
        await game.rewards.claimReward({ grantId: grants[0]?.id ?? "" });

        // No sleep stands for "no second line": a later event's run, started and ended after all of the above,
        // must reach both instances' watches (so each has followed every change of the first run), and then a
        // failed call on each must show in its output (so every line it wrote before is read too). Its start is
        // ahead: a run created already started has no STARTED change, so no "run started" line to wait for.
        const marker = await operator.admin.createEvent({
          event: {
            title: "Marker",
            startTime: timestampFromMs(Date.now() + 1000),
            endTime: timestampFromMs(Date.now() + HOUR),
          },
        });
        const markerId = marker.event?.id ?? "";
        await until("the marker's run starts", () => everywhere("run started", markerId).length > 0, 60_000);
        await operator.admin.endEvent({ id: markerId });
        const changesOf = (watch: Watch, eventId: string, type: EventChangeType) =>
          watch.changes().filter((c) => c.type === type && c.event?.id === eventId);
        for (const watch of watches) {
          await until(
            "each instance follows the marker's end",
            () => changesOf(watch, markerId, EventChangeType.ENDED).length > 0 || watch.ended,
            30_000,
          );
          expect(watch.error).toBeUndefined();
          expect(changesOf(watch, id, EventChangeType.STARTED)).toHaveLength(1);
          expect(changesOf(watch, id, EventChangeType.ENDED)).toHaveLength(1);
        }
        for (const server of [a, b]) {
          const missing = crypto.randomUUID();
          await connectClients(server.baseUrl, operatorKey)
            .events.getEvent({ id: missing })
            .catch(() => undefined);
          await until(
            "the instance's own line after the marker",
            () => lines(server).some((l) => l.msg === "call failed" && String(l.error).includes(missing)),
            30_000,
          );
        }
        for (const msg of ["run started", "run ended", "board finalized", "prizes granted", "reward claimed"]) {
          expect(everywhere(msg, id), msg).toHaveLength(1);
        }
        expect(everywhere("run ended", id)[0]).toMatchObject({ run_number: 1, ended_early: true });
        expect(everywhere("prizes granted", id)[0]).toMatchObject({ players: 1, participants: 1 });
        for (const msg of ["run started", "run ended"]) expect(everywhere(msg, markerId), msg).toHaveLength(1);
      } finally {
        await Promise.all(watches.map((watch) => watch.stop()));
      }
    });
  },
);
