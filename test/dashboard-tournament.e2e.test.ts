import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { PlayerService } from "../gen/liveops/v1/player_service_pb.js";
import { reasonOf } from "../src/errors.js";
import { bearer } from "./support/clients.js";
import { competitionClients } from "./support/competition.js";
import {
  accessibilityViolations,
  chromiumFor,
  type DashboardHarness,
  screenshot,
  startDashboard,
} from "./support/dashboard.js";
import { TEST_PLAYER, type TestServer } from "./support/server.js";

// The "done when" of issue 17, end to end: a new operator runs a weekly tournament from the console alone —
// an audience, a weekly schedule in their own time zone, prize tiers — watches it live, and sees who won and what
// they were granted. Only what game servers do (player properties, scores) goes through the API. The tests of this
// file are one story, in order, in one browser session (Europe/Berlin); each states one step of it.

const hasChromium = chromiumFor("dashboard weekly tournament end-to-end test");

const MINUTE = 60_000;

/** The first run: Sunday 7 June 2026, 18:00–20:00 in Berlin (CEST, UTC+2). The server's clock starts on Monday 1. */
const FIRST_RUN_START = Date.UTC(2026, 5, 7, 16, 0);
const FIRST_RUN_END = Date.UTC(2026, 5, 7, 18, 0);

/**
 * The players of the game, with their country: four in Germany or France, three elsewhere (the test server's own
 * token player among them).
 */
const COUNTRIES: Record<string, string> = {
  anna: "DE",
  jules: "FR",
  lena: "DE",
  marie: "FR",
  tom: "US",
  sven: "SE",
  [TEST_PLAYER]: "GB",
};
const IN_EUROPE = ["anna", "jules", "lena", "marie"];

let dashboard: DashboardHarness;
let server: TestServer;
let game: ReturnType<typeof competitionClients>;
let context: BrowserContext;
let page: Page;
/** Every player the server stores (the test server's own token player too), counted by the audience preview. */
let storedPlayers: number;
/** The tournament, once the console created it. */
let eventId = "";

/** Moves the server's clock to `ms`, and the browser's with it (the console and the server agree on "now"). */
async function moveClockTo(ms: number) {
  server.clock.set(ms);
  await page.clock.setFixedTime(ms);
}

/**
 * While the test runs, moves the server's clock on with real time: WatchLeaderboard spaces its messages on that
 * clock, so a live board only updates while it moves.
 */
function tickServerClock() {
  const ticker = setInterval(() => server.clock.advance(250), 250);
  onTestFinished(() => clearInterval(ticker));
}

/** Ticks exactly the weekdays named. */
async function pickWeekdays(days: string[]) {
  for (const day of ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]) {
    await page.getByLabel(day, { exact: true }).setChecked(days.includes(day));
  }
}

/** Adds a prize tier for ranks `from`–`to` granting `gems` gems, as the `n`th tier. */
async function addGemsTier(n: number, from: number, to: number, gems: number) {
  await page.getByRole("button", { name: "Add prize tier" }).click();
  await page.getByLabel(`Tier ${n}: from rank`).fill(String(from));
  await page.getByLabel(`Tier ${n}: to rank`).fill(String(to));
  await page.getByLabel(`Tier ${n} reward 1 id`).fill("gems");
  await page.getByLabel(`Tier ${n} reward 1 name`).fill("Gems");
  await page.getByLabel(`Tier ${n} reward 1 quantity`).fill(String(gems));
}

/** The leaderboard's section of the event page. */
const board = () => page.getByRole("region", { name: "Leaderboard" });
/** The players of a table's rows, in order. */
const playersOf = (table: Locator) =>
  table.locator("tbody tr[data-player-id]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-player-id")));
/** The cells of a table's rows (a time cell as "(time)"), in order. */
const rowsOf = (table: Locator) =>
  table
    .locator("tbody tr[data-player-id]")
    .evaluateAll((rows) =>
      rows.map((row) =>
        [...row.querySelectorAll("td")].map((td) => (td.querySelector("time") ? "(time)" : td.textContent)),
      ),
    );
/** A number as the browser formats it for people. */
const formatted = (n: number) => page.evaluate((value) => new Intl.NumberFormat().format(value), n);
/** The text of the event page's status badge. */
const statusBadge = () => page.locator(".event-header .badge").textContent();

/** Submits a score for `playerId` to the tournament's live run, as the game server does. */
const submit = (playerId: string, score: bigint) => game.boards.submitScore({ eventId, playerId, score });

// A browser on a busy machine (the tests of both backends at once) takes its time.
describe.skipIf(!hasChromium)(
  "a weekly tournament run from the console (Chromium in Europe/Berlin)",
  { timeout: 120_000 },
  () => {
    beforeAll(async () => {
      dashboard = await startDashboard();
      server = dashboard.server;
      game = competitionClients(server.baseUrl, server.keys.game_server);
      const players = createClient(
        PlayerService,
        createConnectTransport({
          baseUrl: server.baseUrl,
          httpVersion: "1.1",
          interceptors: [bearer(server.keys.game_server)],
        }),
      );
      for (const [playerId, country] of Object.entries(COUNTRIES)) {
        await players.setPlayerProperties({
          playerId,
          properties: { country: { kind: { case: "stringValue", value: country } } },
        });
      }
      storedPlayers = (await players.listPlayers({ pageSize: 500 })).players.length;

      // The operator's browser: in Berlin, with a British locale (a 24-hour clock), its clock at the server's.
      context = await dashboard.browser.newContext({
        timezoneId: "Europe/Berlin",
        locale: "en-GB",
        viewport: { width: 1280, height: 900 },
      });
      await context.clock.setFixedTime(server.clock.now());
      page = await context.newPage();
      await page.goto(server.baseUrl);
      await page.getByLabel("API key").fill(server.keys.operator);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByText("● Live updates").waitFor();
    }, 300_000); // the first end-to-end file of a run builds the dashboard
    afterAll(async () => {
      await context?.close();
      await dashboard?.close();
    });

    it("1. defines the audience “europe” in the audience editor, counting the players it holds as it is typed", async () => {
      await page.getByRole("navigation", { name: "Views" }).getByRole("link", { name: "Audiences" }).click();
      await page.getByRole("button", { name: "Create audience" }).click();
      const editor = page.getByRole("form", { name: "Create audience" });
      await editor.getByLabel("Name").fill("europe");
      await editor.getByLabel("Description").fill("Players in Germany and France");
      await editor.getByLabel("Expression (CEL)").fill('player.properties.country in ["DE", "FR"]');
      await expect
        .poll(() => editor.getByTestId("preview-count").textContent())
        .toBe(`${IN_EUROPE.length} of ${storedPlayers} players match`);
      expect(await editor.locator(".preview").textContent()).toContain(`e.g. ${IN_EUROPE.join(", ")}`);
      expect(await editor.getByTestId("preview-failures").count()).toBe(0);
      expect(await accessibilityViolations(page)).toEqual([]);
      await screenshot(page, "tournament-audience");

      await editor.getByRole("button", { name: "Create audience" }).click();
      const row = page.locator('tr[data-audience="europe"]');
      await row.waitFor();
      expect(await row.locator("code").textContent()).toBe('player.properties.country in ["DE", "FR"]');
      expect(await accessibilityViolations(page)).toEqual([]);
    });

    it("2. schedules the tournament every Sunday at 18:00 Berlin time, for the audience, with prize tiers, previewing its runs in Berlin time", async () => {
      await page.getByRole("navigation", { name: "Views" }).getByRole("link", { name: "Events" }).click();
      await page.getByRole("button", { name: "New event" }).click();
      const form = page.getByRole("form", { name: "Create event" });
      await form.waitFor();
      await page.getByLabel("Title").fill("Sunday Cup");
      await page.getByLabel("Description").fill("Two hours every Sunday evening: the best three scores win gems.");

      // When: the viewer's zone unless another is chosen, and said on screen.
      expect(await page.getByLabel("Time zone").inputValue()).toBe("Europe/Berlin");
      await page.getByLabel("Repeatedly").check();
      await page.getByLabel("Repeats", { exact: true }).selectOption({ label: "Weekly" });
      await pickWeekdays(["Sunday"]);
      await page.getByLabel("First run on or after").fill("2026-06-07");
      await page.getByLabel("Time of day").fill("18:00");
      await page.getByLabel("Hours", { exact: true }).fill("2");
      await page.getByLabel("Minutes", { exact: true }).fill("0");
      await page.getByLabel("Never", { exact: true }).check();
      expect(await page.getByText("Every date and time of this schedule is in").textContent()).toMatch(
        /Europe\/Berlin \(your time zone\)\.$/,
      );
      expect((await page.locator(".schedule-words").textContent())?.trim()).toBe(
        "Every Sunday at 18:00 (Europe/Berlin), for 2 hours, with no end",
      );
      expect(await page.getByRole("region", { name: "Next runs" }).getByRole("listitem").allTextContents()).toEqual([
        "Sun, 7 Jun 2026, 18:00–20:00 Europe/Berlin",
        "Sun, 14 Jun 2026, 18:00–20:00 Europe/Berlin",
        "Sun, 21 Jun 2026, 18:00–20:00 Europe/Berlin",
        "Sun, 28 Jun 2026, 18:00–20:00 Europe/Berlin",
        "Sun, 5 Jul 2026, 18:00–20:00 Europe/Berlin",
      ]);

      // Who: the audience made in step 1.
      await page.getByRole("group", { name: "For audiences" }).getByLabel("europe").check();

      // The leaderboard: the best score counts, higher first; 500 gems for the winner, 100 for ranks 2 and 3.
      await page.getByLabel("Players compete on a leaderboard").check();
      await page.getByLabel("Ranking").selectOption({ label: "Higher scores first" });
      await page.getByLabel("Score operator").selectOption({ label: "Keep the best" });
      await addGemsTier(1, 1, 1, 500);
      await addGemsTier(2, 2, 3, 100);
      expect(await accessibilityViolations(page)).toEqual([]);
      await screenshot(page, "tournament-schedule");

      await form.getByRole("button", { name: "Create event" }).click();
      await form.waitFor({ state: "detached" });
      const created = page.getByRole("status").filter({ hasText: "Created “Sunday Cup”." });
      await created.getByRole("link", { name: "Open its page" }).click();
      await page.getByRole("heading", { name: "Sunday Cup", level: 2 }).waitFor();
      eventId = /^#\/events\/([0-9a-f-]{36})$/.exec(new URL(page.url()).hash)?.[1] ?? "";
      expect(eventId).not.toBe("");
    });

    it("3. shows the tournament's schedule in words with its zone, its audience and its first run in Berlin time", async () => {
      expect(await statusBadge()).toBe("upcoming");
      const about = page.getByRole("region", { name: "About" });
      expect(await about.locator("dt").allTextContents()).toEqual([
        "Repeats",
        "Rule",
        "First run",
        "Last run ends",
        "Next run",
        "Times",
      ]);
      expect(await about.locator("dd").first().textContent()).toBe(
        "Every Sunday at 18:00 (Europe/Berlin), for 2 hours, with no end",
      );
      expect(await about.locator("dd").nth(1).textContent()).toMatch(/ in Europe\/Berlin$/);
      expect(await about.locator("time").first().getAttribute("datetime")).toBe(
        new Date(FIRST_RUN_START).toISOString(),
      );
      expect(await about.locator("dd").last().textContent()).toBe("in your time zone (Europe/Berlin)");
      expect(await page.getByRole("region", { name: "Audiences" }).locator("dd").allTextContents()).toEqual([
        "europe",
        "nobody excluded",
      ]);
      expect(await page.getByRole("list", { name: "Prizes" }).getByRole("listitem").allTextContents()).toEqual([
        "Rank 1: 500 Gems",
        "Ranks 2–3: 100 Gems",
      ]);
      await board().getByText("No run has started yet").waitFor();
      expect(await accessibilityViolations(page)).toEqual([]);
    });

    it("4. goes live on Sunday at 18:00 Berlin time, and re-ranks the live board as the audience's players score, without a reload", async () => {
      await page.evaluate(() => Object.assign(globalThis, { sameDocument: true }));
      await moveClockTo(FIRST_RUN_START + 30_000);
      tickServerClock();
      await expect.poll(statusBadge).toBe("live");
      const table = board().getByRole("table", { name: /^Run 1 — live/ });
      await table.getByText("No scores yet.").waitFor();

      await submit("anna", 4_200n);
      await submit("jules", 3_900n);
      await submit("lena", 2_750n);
      await submit("marie", 1_800n);
      await expect.poll(() => playersOf(table)).toEqual(["anna", "jules", "lena", "marie"]);
      // Marie's best run of the evening takes the lead.
      await submit("marie", 5_000n);
      await expect.poll(() => playersOf(table)).toEqual(["marie", "anna", "jules", "lena"]);
      expect(await table.locator(".band-heading").allTextContents()).toEqual([
        "Rank 1: 500 Gems",
        "Ranks 2–3: 100 Gems",
        "No prize",
      ]);
      expect((await rowsOf(table))[0]).toEqual(["1", "marie", await formatted(5_000), "2", "(time)"]);
      expect(await board().getByText("● Updating live").count()).toBe(1);
      expect(await page.evaluate(() => "sameDocument" in globalThis)).toBe(true);
      expect(await accessibilityViolations(page)).toEqual([]);
      await screenshot(page, "tournament-live");
    });

    it("5. refuses the score of a player outside the audience (PLAYER_NOT_TARGETED), who stays off the board", async () => {
      const refused = await submit("tom", 9_999n).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect({ code: refused?.code, reason: refused && reasonOf(refused) }).toEqual({
        code: Code.FailedPrecondition,
        reason: "PLAYER_NOT_TARGETED",
      });
      const table = board().getByRole("table", { name: /^Run 1 — live/ });
      expect(await playersOf(table)).toEqual(["marie", "anna", "jules", "lena"]);
    });

    it("6. at 20:00 shows run 1 under past runs with its final board and who was granted what", async () => {
      await moveClockTo(FIRST_RUN_END + MINUTE);
      // The next run is a week later: the series goes on.
      await expect.poll(statusBadge).toBe("between runs");
      const past = page.getByRole("list", { name: "Past runs, newest first" });
      await past.getByRole("button", { name: "Show results of run 1" }).click();
      const final = past.getByRole("table", { name: "Run 1: final board" });
      await expect.poll(() => playersOf(final)).toEqual(["marie", "anna", "jules", "lena"]);
      const grants = past.getByRole("table", { name: "Run 1: rewards granted" });
      await expect
        .poll(() => rowsOf(grants))
        .toEqual([
          ["marie", "1", "500 Gems", "(time)", "not yet"],
          ["anna", "2", "100 Gems", "(time)", "not yet"],
          ["jules", "3", "100 Gems", "(time)", "not yet"],
        ]);
      expect(await page.getByRole("list", { name: "Upcoming runs" }).locator(".run-number").first().textContent()).toBe(
        "Run 2",
      );
      expect(await accessibilityViolations(page)).toEqual([]);
      await screenshot(page, "tournament-winners");
    });

    it("7. lists the run on the Overview under “Recently ended”, with its winners and what they won", async () => {
      await page.getByRole("navigation", { name: "Views" }).getByRole("link", { name: "Overview" }).click();
      const recent = page.getByRole("region", { name: "Recently ended" });
      const item = recent.locator(`li[data-event-id="${eventId}"]`);
      await item.waitFor();
      expect(await item.getByRole("link", { name: "Sunday Cup" }).count()).toBe(1);
      // The head's run number can render after the item itself: wait for it, as for the winners below.
      await expect.poll(() => item.locator(".overview-item-head").textContent()).toContain("run 1");
      const winners = item.getByRole("list", { name: "Winners of Sunday Cup" });
      await expect
        .poll(() =>
          winners
            .locator("li")
            .evaluateAll((rows) =>
              rows.map((li) => [li.getAttribute("data-player-id"), li.querySelector(".granted")?.textContent ?? ""]),
            ),
        )
        .toEqual([
          ["marie", "won 500 × Gems"],
          ["anna", "won 100 × Gems"],
          ["jules", "won 100 × Gems"],
        ]);
      await expect.poll(() => item.textContent()).toContain("3 players were granted prizes.");
      expect(await accessibilityViolations(page)).toEqual([]);
      await screenshot(page, "tournament-overview");
    });
  },
);
