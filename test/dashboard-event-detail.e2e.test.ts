import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import { bearer, codeOf, connectClients } from "./support/clients.js";
import { competitionClients, leaderboard } from "./support/competition.js";
import {
  accessibilityViolations,
  chromiumFor,
  type DashboardHarness,
  screenshot,
  startDashboard,
} from "./support/dashboard.js";
import type { TestServer } from "./support/server.js";

const hasChromium = chromiumFor("dashboard event page end-to-end tests");

const DAY = 86_400_000;

let dashboard: DashboardHarness;
let server: TestServer;
let operator: ReturnType<typeof competitionClients>;
let game: ReturnType<typeof competitionClients>;

/** Prize tiers: the winner gets 1,000 gems, ranks 2 and 3 get 500. */
const PRIZE_TIERS = [
  { rankFrom: 1, rankTo: 1, rewards: [{ id: "gems", name: "Gems", quantity: 1000n }] },
  { rankFrom: 2, rankTo: 3, rewards: [{ id: "gems", name: "Gems", quantity: 500n }] },
];
/** The scores of the seeded cup, best first. */
const SCORES: [string, bigint][] = [
  ["p-alice", 125_000n],
  ["p-bob", 98_000n],
  ["p-carol", 15_250n],
  ["p-dave", 1_200n],
  ["p-erin", 50n],
];
const PLAYERS = [...SCORES.map(([player]) => player), "p-late", "r-one", "r-two"];

/** Creates a one-off competition live for a week, with the prize tiers, audiences and metadata; returns its id. */
async function createCup(title: string): Promise<string> {
  const now = server.clock.now();
  const { event } = await operator.admin.createEvent({
    event: {
      title,
      description: "A week of racing: the fastest three win gems.",
      startTime: timestampFromMs(now - 60_000),
      endTime: timestampFromMs(now + 7 * DAY),
      rewards: [{ id: "cup_badge", name: "Cup badge", quantity: 1n }],
      metadata: { theme: "summer", season: 3 },
      leaderboard: leaderboard({ prizeTiers: PRIZE_TIERS }),
      audiences: ["racers"],
      excludedAudiences: ["cheaters"],
    },
  });
  return event?.id ?? "";
}

/** Submits every score of {@link SCORES} to the event's live run, as the game server. */
async function submitScores(eventId: string) {
  for (const [playerId, score] of SCORES) await game.boards.submitScore({ eventId, playerId, score });
}

/** Signs in with `key` and opens the page of event `id`. */
async function openEvent(key: string, id: string): Promise<{ context: BrowserContext; page: Page }> {
  const signedIn = await dashboard.signIn(key);
  await signedIn.page.goto(`${server.baseUrl}/#/events/${id}`);
  await signedIn.page.getByRole("heading", { level: 2 }).first().waitFor();
  return signedIn;
}

/** The leaderboard's section. */
const board = (page: Page) => page.getByRole("region", { name: "Leaderboard" });
/** The players of a table's rows, in order. */
const playersOf = (table: ReturnType<Page["getByRole"]>) =>
  table.locator("tbody tr[data-player-id]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-player-id")));
/** The cells of a table's rows (a time cell as its datetime), in order. */
const rowsOf = (table: ReturnType<Page["getByRole"]>) =>
  table
    .locator("tbody tr[data-player-id]")
    .evaluateAll((rows) =>
      rows.map((row) =>
        [...row.querySelectorAll("td")].map((td) => (td.querySelector("time") ? "(time)" : td.textContent)),
      ),
    );
/** A number as the browser formats it for people. */
const formatted = (page: Page, n: number) => page.evaluate((value) => new Intl.NumberFormat().format(value), n);

/** How far the page is wider than the window (0 when nothing overflows sideways). */
const overflow = (page: Page) =>
  page.evaluate(() => {
    const root = (
      globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }
    ).document.documentElement;
    return root.scrollWidth - root.clientWidth;
  });

// Each test drives a browser against a real server: on a loaded machine one takes tens of seconds.
describe.skipIf(!hasChromium)("the event page in the dashboard (Chromium)", { timeout: 120_000 }, () => {
  let cupId: string;

  beforeAll(async () => {
    dashboard = await startDashboard();
    server = dashboard.server;
    operator = competitionClients(server.baseUrl, server.keys.operator);
    game = competitionClients(server.baseUrl, server.keys.game_server);
    const audiences = createClient(
      AudienceService,
      createConnectTransport({
        baseUrl: server.baseUrl,
        httpVersion: "1.1",
        interceptors: [bearer(server.keys.admin)],
      }),
    );
    await audiences.createAudience({ audience: { name: "racers", includePlayerIds: PLAYERS } });
    await audiences.createAudience({ audience: { name: "cheaters", includePlayerIds: ["p-cheat"] } });
    cupId = await createCup("Summer Cup");
    await submitScores(cupId);
    await game.counters.incrementCounter({ eventId: cupId, name: "viewers", delta: 1_234_567n });
  }, 240_000);
  afterAll(() => dashboard?.close());

  it("shows the event's description, schedule, rewards, counters, audiences and metadata", async () => {
    const { context, page } = await openEvent(server.keys.operator, cupId);
    await page.getByRole("heading", { name: "Summer Cup" }).waitFor();
    expect(await page.locator(".event-header .badge").textContent()).toBe("live");
    await page.getByText("A week of racing: the fastest three win gems.").waitFor();
    const counters = page.getByRole("region", { name: "Counters" });
    expect(await counters.locator("dt").allTextContents()).toEqual(["viewers"]);
    expect(await counters.locator("dd").allTextContents()).toEqual([await formatted(page, 1_234_567)]);
    const audiences = page.getByRole("region", { name: "Audiences" });
    expect(await audiences.locator("dd").allTextContents()).toEqual(["racers", "cheaters"]);
    expect(await page.getByRole("region", { name: "Rewards" }).locator("li").allTextContents()).toEqual([
      "1 Cup badge (cup_badge)",
    ]);
    expect(await page.getByRole("region", { name: "Metadata" }).locator("dt, dd").allTextContents()).toEqual([
      "season",
      "3",
      "theme",
      "summer",
    ]);
    const about = page.getByRole("region", { name: "About" });
    expect(await about.locator("time").evaluateAll((times) => times.map((t) => t.getAttribute("datetime")))).toEqual([
      new Date(server.clock.now() - 60_000).toISOString(),
      new Date(server.clock.now() + 7 * DAY).toISOString(),
    ]);
    await page.getByRole("table", { name: /^Run 1 — live/ }).waitFor();
    await screenshot(page, "event-detail");
    expect(await accessibilityViolations(page)).toEqual([]);

    await page.setViewportSize({ width: 390, height: 844 });
    expect(await overflow(page)).toBe(0);
    await screenshot(page, "event-detail-390");
    await context.close();
  });

  it("shows the live board by rank under its prize bands, with formatted scores and no unused subscore column", async () => {
    const { context, page } = await openEvent(server.keys.viewer, cupId);
    const table = board(page).getByRole("table", { name: /^Run 1 — live/ });
    await expect.poll(() => playersOf(table)).toEqual(SCORES.map(([player]) => player));
    expect(await table.locator(".band-heading").allTextContents()).toEqual([
      `Rank 1: ${await formatted(page, 1000)} Gems`,
      `Ranks 2–3: 500 Gems`,
      "No prize",
    ]);
    expect(await table.locator("tbody").nth(1).locator("tr[data-player-id]").count()).toBe(2);
    expect(await table.locator("thead th").allTextContents()).toEqual([
      "Rank",
      "Player",
      "Score",
      "Submissions",
      "Last change",
    ]);
    expect((await rowsOf(table))[0]).toEqual(["1", "p-alice", await formatted(page, 125_000), "1", "(time)"]);
    expect(await formatted(page, 125_000)).toMatch(/^125\D000$/);
    await screenshot(page, "leaderboard");
    expect(await accessibilityViolations(page)).toEqual([]);
    await context.close();
  });

  it("finds a player's rank with the players around it, and says when a player is not on the board", async () => {
    const { context, page } = await openEvent(server.keys.viewer, cupId);
    const search = board(page).getByRole("form", { name: "Find a player on this board" });
    await search.getByLabel("Player id").fill("p-carol");
    await search.getByRole("button", { name: "Find" }).click();
    const around = board(page).getByRole("table", { name: "Around p-carol" });
    await expect.poll(() => playersOf(around)).toEqual(["p-alice", "p-bob", "p-carol", "p-dave", "p-erin"]);
    expect(await around.locator("tr[aria-current]").getAttribute("data-player-id")).toBe("p-carol");
    expect(await board(page).locator(".search-result").textContent()).toBe(
      `p-carol is ranked 3 with ${await formatted(page, 15_250)} points — in the prize band Ranks 2–3.`,
    );

    await search.getByLabel("Player id").fill("p-nobody");
    await search.getByRole("button", { name: "Find" }).click();
    await expect
      .poll(() => board(page).locator(".search-result").textContent())
      .toBe("p-nobody is not on this board (run 1).");
    expect(await around.count()).toBe(0);
    await context.close();
  });

  it("shows a score submitted through the API without reloading", async () => {
    const { context, page } = await openEvent(server.keys.viewer, cupId);
    const table = board(page).getByRole("table", { name: /^Run 1 — live/ });
    await expect.poll(() => playersOf(table)).toEqual(SCORES.map(([player]) => player));
    // WatchLeaderboard spaces its messages on the server's clock, which this test moves as time passes.
    const ticker = setInterval(() => server.clock.advance(250), 250);
    onTestFinished(() => clearInterval(ticker));
    await game.boards.submitScore({ eventId: cupId, playerId: "p-late", score: 200_000n });
    await expect.poll(() => playersOf(table)).toEqual(["p-late", ...SCORES.map(([player]) => player)]);
    await context.close();
  });

  it("states what End now does in a dialog, then shows the run's final board and grants under past runs", async () => {
    const id = await createCup("Sprint Cup");
    await submitScores(id);
    const { context, page } = await openEvent(server.keys.operator, id);
    await page.getByRole("button", { name: "End now" }).click();
    const dialog = page.getByRole("dialog", { name: "End “Sprint Cup” now?" });
    expect(await dialog.locator("li").allTextContents()).toEqual([
      "Run 1 ends now, before its scheduled end.",
      "Its leaderboard is finalized: no more scores are accepted and ranks are final.",
      "The prize tiers' rewards are granted to the winners (2 tiers).",
      "This cannot be undone.",
    ]);
    await screenshot(page, "end-event-dialog");
    expect(await accessibilityViolations(page)).toEqual([]);
    await dialog.getByRole("button", { name: "End now" }).click();
    await expect.poll(() => dialog.count()).toBe(0);
    await expect.poll(() => page.locator(".event-header .badge").textContent()).toBe("ended");

    const past = page.getByRole("list", { name: "Past runs, newest first" });
    await past.getByRole("button", { name: "Show results of run 1" }).click();
    const final = past.getByRole("table", { name: "Run 1: final board" });
    await expect.poll(() => playersOf(final)).toEqual(SCORES.map(([player]) => player));
    const grants = past.getByRole("table", { name: "Run 1: rewards granted" });
    await expect
      .poll(() => rowsOf(grants))
      .toEqual([
        ["p-alice", "1", `${await formatted(page, 1000)} Gems`, "(time)", "not yet"],
        ["p-bob", "2", "500 Gems", "(time)", "not yet"],
        ["p-carol", "3", "500 Gems", "(time)", "not yet"],
      ]);
    expect(await page.getByRole("button", { name: "End now" }).count()).toBe(0);
    await screenshot(page, "event-ended-grants");
    expect(await accessibilityViolations(page)).toEqual([]);
    await context.close();
  });

  it("switches the board between the runs of a recurring event with the run picker", async () => {
    // A series starts on a whole second; the clock has moved by quarters of one.
    const start = Math.floor(server.clock.now() / 1000) * 1000;
    const { event } = await operator.admin.createEvent({
      event: {
        title: "Daily Dash",
        startTime: timestampFromMs(start),
        recurrence: { rule: "FREQ=DAILY", runDuration: { seconds: 7200n }, timeZone: "Europe/Berlin" },
        leaderboard: leaderboard({ prizeTiers: PRIZE_TIERS }),
      },
    });
    const id = event?.id ?? "";
    await game.boards.submitScore({ eventId: id, playerId: "r-one", score: 10n });
    server.clock.advance(DAY);
    const events = connectClients(server.baseUrl, server.keys.viewer).events;
    await expect.poll(async () => (await events.getEvent({ id })).event?.currentRun?.runNumber).toBe(2n);
    await game.boards.submitScore({ eventId: id, playerId: "r-two", score: 20n });

    const { context, page } = await openEvent(server.keys.viewer, id);
    expect(await page.getByRole("region", { name: "About" }).textContent()).toContain("Europe/Berlin");
    const picker = board(page).getByLabel("Run", { exact: true });
    await expect.poll(() => picker.inputValue()).toBe("2");
    await expect.poll(() => playersOf(board(page).getByRole("table", { name: /^Run 2 — live/ }))).toEqual(["r-two"]);
    // The options fill in as the page reads the event's runs: wait for both.
    await expect
      .poll(() => picker.locator("option").allTextContents())
      .toEqual(["Run 2 — live", expect.stringMatching(/^Run 1 — ended /)]);

    await picker.selectOption("1");
    await expect.poll(() => playersOf(board(page).getByRole("table", { name: "Run 1 — final" }))).toEqual(["r-one"]);
    const upcoming = page.getByRole("list", { name: "Upcoming runs" }).locator(".run-number");
    await expect.poll(() => upcoming.allTextContents()).toEqual(["Run 3", "Run 4", "Run 5", "Run 6", "Run 7"]);
    await context.close();
  });

  it("deletes the event after a dialog that says what goes, then returns to the events list", async () => {
    const id = await createCup("Doomed Cup");
    const { context, page } = await openEvent(server.keys.operator, id);
    await page.getByRole("button", { name: "Delete" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete “Doomed Cup”?" });
    expect(await dialog.textContent()).toContain("deleted with all its runs, their leaderboards and its counters");
    await dialog.getByRole("button", { name: "Delete event" }).click();
    await expect.poll(() => new URL(page.url()).hash).toBe("#/events");
    await page.getByRole("heading", { name: "Events", level: 2 }).waitFor();
    expect(await codeOf(connectClients(server.baseUrl, server.keys.viewer).events.getEvent({ id }))).toBe(
      Code.NotFound,
    );
    await context.close();
  });

  it("edits the event through the event form, saving the changed fields", async () => {
    const id = await createCup("Draft Cup");
    const { context, page } = await openEvent(server.keys.operator, id);
    await page.getByRole("button", { name: "Edit" }).click();
    await page.getByLabel("Title").fill("Final Cup");
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByRole("heading", { name: "Final Cup" }).waitFor();
    const { event } = await connectClients(server.baseUrl, server.keys.viewer).events.getEvent({ id });
    expect(event?.title).toBe("Final Cup");
    expect(event?.description).toBe("A week of racing: the fastest three win gems.");
    await context.close();
  });

  it("goes back to the events list where it was when the list was the previous page, else opens the list", async () => {
    const { context, page } = await dashboard.signIn(server.keys.viewer);
    await page.goto(`${server.baseUrl}/#/events`);
    await page.goto(`${server.baseUrl}/#/events/${cupId}`);
    await page.getByRole("heading", { name: "Summer Cup" }).waitFor();
    await page.locator("a.back-link").click();
    await expect.poll(() => new URL(page.url()).hash).toBe("#/events");
    // The browser went back: the event page is the next entry of the history.
    await page.goForward();
    await expect.poll(() => new URL(page.url()).hash).toBe(`#/events/${cupId}`);

    await page.goto(`${server.baseUrl}/#/overview`);
    await page.goto(`${server.baseUrl}/#/events/${cupId}`);
    await page.getByRole("heading", { name: "Summer Cup" }).waitFor();
    await page.locator("a.back-link").click();
    await expect.poll(() => new URL(page.url()).hash).toBe("#/events");
    await page.goBack();
    await expect.poll(() => new URL(page.url()).hash).toBe(`#/events/${cupId}`);
    await context.close();
  });

  it("shows a viewer the event and its board without the actions", async () => {
    const { context, page } = await openEvent(server.keys.viewer, cupId);
    await board(page)
      .getByRole("table", { name: /^Run 1 — live/ })
      .waitFor();
    for (const action of ["Edit", "End now", "Delete"]) {
      expect(await page.getByRole("button", { name: action }).count()).toBe(0);
    }
    expect(await accessibilityViolations(page)).toEqual([]);
    await context.close();
  });

  it("says that no event has an unknown id", async () => {
    const { context, page } = await openEvent(server.keys.viewer, "00000000-0000-4000-8000-000000000000");
    await page.getByRole("heading", { name: "No event with this id" }).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
    await context.close();
  });
});
