import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import { type Event, EventStatus } from "../gen/liveops/v1/event_pb.js";
import { LeaderboardService } from "../gen/liveops/v1/leaderboard_service_pb.js";
import { PlayerService } from "../gen/liveops/v1/player_service_pb.js";
import { RewardService } from "../gen/liveops/v1/reward_service_pb.js";
import { bearer, connectClients } from "./support/clients.js";
import { runProcess } from "./support/process-output.js";
import { realClock } from "./support/real-clock.js";
import {
  backendEnv,
  dropBackend,
  startTestServer,
  TEST_PLAYER,
  type TestServer,
  testBackend,
} from "./support/server.js";

/** `npm run demo -- <args>` with the backend of this run, in the repository's folder. */
function runDemo(args: string[], env: Record<string, string>) {
  return runProcess("npm", ["run", "--silent", "demo", "--", ...args], { env: { ...process.env, ...env } });
}

/** Every TypeScript file under `dir`. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => join(entry.parentPath, entry.name));
}

const byTitle = (events: Event[], title: string) => {
  const event = events.find((e) => e.title.startsWith(title));
  if (!event) throw new Error(`no event titled ${title}: ${events.map((e) => e.title).join(", ")}`);
  return event;
};

describe("npm run demo", () => {
  let folder: string;
  let dbPath: string;
  let env: Record<string, string>;
  let first: Awaited<ReturnType<typeof runDemo>>;
  let server: TestServer;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "liveops-demo-"));
    dbPath = join(folder, "data", "liveops.db");
    env = await backendEnv(dbPath);
    first = await runDemo(["--db", dbPath], env);
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    rmSync(folder, { recursive: true, force: true });
    await dropBackend(dbPath);
  });

  it("fills a fresh database, then prints what it made and how to look at it", () => {
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toBe("");
    expect(first.stdout).toContain("Loaded the demo calendar into");
    expect(first.stdout).toMatch(/Arena Championship — Season 4: 50 players on the live board, led by \w+/);
    expect(first.stdout).toMatch(/Sunday Cup: [1-9]\d* past runs, [1-9]\d* prizes granted, [1-9]\d* claimed/);
    expect(first.stdout).toContain(
      testBackend === "sqlite" ? `npm start -- --db ${dbPath}` : "npm start   (with the same DATABASE_URL)",
    );
    expect(first.stdout).toContain("http://localhost:8080/");
    const keyFile = join(folder, "data", "initial-admin-key");
    expect(first.stdout).toContain(`cat ${keyFile}`);
    expect(readFileSync(keyFile, "utf8").trim()).toMatch(/\S{20,}/);
  });

  it("refuses, with one line and exit status 2, a database that already holds events", async () => {
    const again = await runDemo(["--db", dbPath], env);
    expect(again.code).toBe(2);
    expect(again.stdout).toBe("");
    expect(again.stderr.trim().split("\n")).toHaveLength(1);
    expect(again.stderr).toMatch(/^demo: .* already holds 6 events: the demo fills only a fresh database/);
  }, 120_000);

  describe("a server started on it", () => {
    beforeAll(async () => {
      server = await startTestServer({}, { dir: join(folder, "data"), clock: realClock });
    }, 60_000);

    it("serves the calendar: live, recurring in a named zone, upcoming and ended events", async () => {
      const { events: eventService } = connectClients(server.baseUrl, server.keys.viewer);
      const { events, statusCounts } = await eventService.listEvents({ pageSize: 100, includeCounts: true });
      expect(events).toHaveLength(6);
      const count = (status: EventStatus) => statusCounts.find((c) => c.status === status)?.count ?? 0;
      expect(count(EventStatus.ACTIVE)).toBeGreaterThanOrEqual(2);
      expect(count(EventStatus.UPCOMING)).toBe(1);
      expect(count(EventStatus.ENDED)).toBe(1);
      expect(byTitle(events, "Arena Championship").status).toBe(EventStatus.ACTIVE);
      expect(byTitle(events, "Daily Login Bonus")).toMatchObject({
        status: EventStatus.ACTIVE,
        recurrence: { rule: "FREQ=DAILY" },
      });
      expect(byTitle(events, "Sunday Cup").recurrence).toMatchObject({ timeZone: "Europe/Berlin" });
      expect(byTitle(events, "Sunday Cup").audiences).toEqual(["europe"]);
      expect(byTitle(events, "Harvest Festival").status).toBe(EventStatus.ENDED);
      expect(byTitle(events, "Harvest Festival").counters.pumpkins_collected).toBeGreaterThan(0n);
      expect(byTitle(events, "Winter Festival").status).toBe(EventStatus.UPCOMING);
    });

    it("has a live board of 50 players with prize tiers", async () => {
      const { events: eventService } = connectClients(server.baseUrl, server.keys.viewer);
      const { events } = await eventService.listEvents({ pageSize: 100 });
      const arena = byTitle(events, "Arena Championship");
      expect(arena.leaderboard?.prizeTiers.length).toBeGreaterThan(1);
      expect(arena.counters.matches_played).toBeGreaterThan(0n);
      const boards = createClient(
        LeaderboardService,
        createConnectTransport({
          baseUrl: server.baseUrl,
          httpVersion: "1.1",
          interceptors: [bearer(server.keys.viewer)],
        }),
      );
      const board = await boards.listScores({ eventId: arena.id, pageSize: 100 });
      expect(board.final).toBe(false);
      expect(board.scores).toHaveLength(50);
      const scores = board.scores.map((s) => s.score);
      expect(scores).toEqual([...scores].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0)));
    });

    it("has past runs of the weekly tournament, finalized, with prizes granted and some claimed", async () => {
      const transport = createConnectTransport({
        baseUrl: server.baseUrl,
        httpVersion: "1.1",
        interceptors: [bearer(server.keys.admin)],
      });
      const { events } = await connectClients(server.baseUrl, server.keys.viewer).events.listEvents({ pageSize: 100 });
      const cup = byTitle(events, "Sunday Cup");
      const firstRun = await createClient(LeaderboardService, transport).listScores({ eventId: cup.id, runNumber: 1n });
      expect(firstRun.final).toBe(true);
      expect(firstRun.scores.length).toBeGreaterThan(10);
      const { grants } = await createClient(RewardService, transport).listRewardGrants({
        eventId: cup.id,
        pageSize: 100,
      });
      expect(new Set(grants.map((g) => g.runNumber)).size).toBeGreaterThanOrEqual(3);
      expect(grants.filter((g) => g.rank === 1n).every((g) => g.rewards.some((r) => r.id === "cup-trophy"))).toBe(true);
      const claimed = grants.filter((g) => g.claimTime !== undefined).length;
      expect(claimed).toBeGreaterThan(0);
      expect(claimed).toBeLessThan(grants.length);
    });

    it("has players with properties and audiences that select them", async () => {
      const transport = createConnectTransport({
        baseUrl: server.baseUrl,
        httpVersion: "1.1",
        interceptors: [bearer(server.keys.admin)],
      });
      const { players } = await createClient(PlayerService, transport).listPlayers({ pageSize: 100 });
      // The test server's own player (of its player token) aside.
      const demoPlayers = players.filter((p) => p.id !== TEST_PLAYER);
      expect(demoPlayers).toHaveLength(50);
      for (const player of demoPlayers) {
        expect(Object.keys(player.properties).sort()).toEqual(["country", "level", "platform"]);
      }
      const audiences = createClient(AudienceService, transport);
      const { audiences: listed } = await audiences.listAudiences({});
      expect(listed.map((a) => a.name).sort()).toEqual(["europe", "veterans"]);
      const europe = await audiences.previewAudience({ audience: listed.find((a) => a.name === "europe") });
      expect(europe.matchingPlayers).toBeGreaterThan(20n);
      expect(europe.matchingPlayers).toBeLessThan(50n);
      const veterans = await audiences.previewAudience({ audience: listed.find((a) => a.name === "veterans") });
      const levels = demoPlayers.map((p) =>
        p.properties.level?.kind.case === "numberValue" ? p.properties.level.kind.value : 0,
      );
      // The test server's player has no properties: the one player the expression fails on.
      expect(veterans).toMatchObject({
        matchingPlayers: BigInt(levels.filter((level) => level >= 30).length),
        failedPlayers: 1n,
        complete: true,
      });
      expect(veterans.matchingPlayers).toBeGreaterThan(0n);
    });
  });
});

describe("the demo's code", () => {
  it("is not imported by the server", () => {
    const importers = sourceFiles("src")
      .filter((file) => !file.startsWith(join("src", "demo")))
      .filter((file) => /from "[./]*\/?demo\//.test(readFileSync(file, "utf8")));
    expect(importers).toEqual([]);
    expect(existsSync("src/demo/demo.ts")).toBe(true);
  });
});
