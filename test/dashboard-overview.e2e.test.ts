import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { competitionClients, leaderboard } from "./support/competition.js";
import {
  accessibilityViolations,
  chromiumFor,
  type DashboardHarness,
  screenshot,
  startDashboard,
} from "./support/dashboard.js";
import type { TestServer } from "./support/server.js";

const hasChromium = chromiumFor("dashboard overview end-to-end tests");

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

let dashboard: DashboardHarness;
let server: TestServer;

/**
 * The events of the overview, made through the API: a daily one whose first run ended early 10 minutes ago with its
 * prizes granted; then, at the server's (fixed) time, one live with a board and a counter, two starting within 24
 * hours, one in 3 days, and one ended early with its prizes granted.
 */
async function seedEvents() {
  const operator = competitionClients(server.baseUrl, server.keys.operator);
  const game = competitionClients(server.baseUrl, server.keys.game_server);
  const create = async (title: string, start: number, end: number | undefined, extra: object = {}) =>
    (
      await operator.admin.createEvent({
        event: {
          title,
          startTime: timestampFromMs(start),
          ...(end === undefined ? {} : { endTime: timestampFromMs(end) }),
          ...extra,
        },
      })
    ).event?.id ?? "";
  const submit = async (eventId: string, scores: [string, bigint][]) => {
    for (const [playerId, score] of scores) await game.boards.submitScore({ eventId, playerId, score });
  };
  const gems = (quantity: bigint) => [{ id: "gems", name: "Gems", quantity }];
  const prizes = leaderboard({
    prizeTiers: [
      { rankFrom: 1, rankTo: 1, rewards: gems(500n) },
      { rankFrom: 2, rankTo: 3, rewards: gems(100n) },
    ],
  });

  const daily = await create("Daily Dash", server.clock.now() - 30 * MINUTE, undefined, {
    recurrence: { rule: "FREQ=DAILY", runDuration: { seconds: 3600n } },
    leaderboard: prizes,
  });
  await submit(daily, [["ivy", 50n]]);
  await operator.admin.endEvent({ id: daily, currentRunOnly: true });
  server.clock.advance(10 * MINUTE);

  const now = server.clock.now();
  const live = await create("Spring Sprint", now - 30 * MINUTE, now + 90 * MINUTE, { leaderboard: leaderboard() });
  await submit(live, [
    ["ana", 120n],
    ["ben", 340n],
    ["cy", 90n],
    ["dee", 10n],
  ]);
  await game.counters.incrementCounter({ eventId: live, name: "viewers", delta: 1234n });
  await create("Night Shift", now + 5 * HOUR, now + 6 * HOUR);
  await create("Evening Raid", now + 2 * HOUR, now + 3 * HOUR);
  await create("Far Festival", now + 3 * DAY, now + 4 * DAY);
  const cup = await create("Weekend Cup", now - HOUR, now + HOUR, { leaderboard: prizes });
  await submit(cup, [
    ["kim", 700n],
    ["lou", 900n],
    ["max", 300n],
    ["ned", 100n],
  ]);
  await operator.admin.endEvent({ id: cup });
}

/** Signs in with `key`, the browser's clock set to the server's, and waits for the overview's sections. */
async function openOverview(key: string): Promise<{ context: BrowserContext; page: Page }> {
  const { context, page } = await dashboard.signIn(key);
  await page.clock.setFixedTime(server.clock.now());
  await page.reload();
  await page.getByText("● Live updates").waitFor();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  return { context, page };
}

const section = (page: Page, name: string) => page.getByRole("region", { name });

/** The event titles a section lists, in order. */
async function titlesIn(page: Page, name: string): Promise<string[]> {
  return await section(page, name)
    .locator("li[data-event-id] .overview-item-head a")
    .evaluateAll((links) => links.map((a) => a.textContent ?? ""));
}

/** The entries of a board in a section's item for `title`: player, score, and what it was granted. */
async function podium(page: Page, name: string, title: string): Promise<string[]> {
  return await section(page, name)
    .locator("li[data-event-id]", { has: page.getByRole("link", { name: title, exact: true }) })
    .locator(".overview-podium li")
    .evaluateAll((items) =>
      items.map((li) =>
        [".player", ".number", ".granted"]
          .map((c) => li.querySelector(c)?.textContent)
          .filter((t) => t)
          .join(" "),
      ),
    );
}

/** The figure of the stat labelled `label`. */
const stat = (page: Page, label: string) => page.locator(".stat", { hasText: label }).locator("dd").textContent();

// Each test signs in afresh and waits for the page: slow when the machine is busy.
describe.skipIf(!hasChromium)("the overview in Chromium", { timeout: 60_000 }, () => {
  beforeAll(async () => {
    dashboard = await startDashboard();
    server = dashboard.server;
    await seedEvents();
    // Building the dashboard takes a while on a busy machine.
  }, 240_000);
  afterAll(() => dashboard?.close());

  it("shows live events with the time left in their run, their counters and their leaders", async () => {
    const { context, page } = await openOverview(server.keys.viewer);
    await expect.poll(() => titlesIn(page, "Live now")).toEqual(["Spring Sprint"]);
    const item = section(page, "Live now").locator("li[data-event-id]");
    expect(await item.getByText(/^Ends in/).textContent()).toMatch(/^Ends in 1 h 30 min \(/);
    expect(await item.locator(".overview-counters").textContent()).toBe(`viewers${(1234).toLocaleString("en-US")}`);
    await expect.poll(() => podium(page, "Live now", "Spring Sprint")).toEqual(["ben 340", "ana 120", "cy 90"]);
    expect(await item.getByRole("link", { name: "Spring Sprint" }).getAttribute("href")).toMatch(
      /^#\/events\/[0-9a-f-]{36}$/,
    );
    await context.close();
  });

  it("lists what starts in the next 24 hours soonest first, and nothing that starts later", async () => {
    const { context, page } = await openOverview(server.keys.viewer);
    await expect
      .poll(() => titlesIn(page, "Starting in the next 24 hours"))
      .toEqual(["Evening Raid", "Night Shift", "Daily Dash"]);
    const starts = await section(page, "Starting in the next 24 hours")
      .getByText(/^Starts in/)
      .evaluateAll((ps) => ps.map((p) => p.firstChild?.nextSibling?.firstChild?.textContent));
    expect(starts).toEqual(["in 2 h", "in 5 h", "in 23 h 20 min"]);
    expect(await page.getByText("Far Festival").count()).toBe(0);
    await context.close();
  });

  it("shows the winners of an ended event with what they were granted, newest first", async () => {
    const { context, page } = await openOverview(server.keys.viewer);
    await expect.poll(() => titlesIn(page, "Recently ended")).toEqual(["Weekend Cup", "Daily Dash"]);
    await expect
      .poll(() => podium(page, "Recently ended", "Weekend Cup"))
      .toEqual(["lou 900 won 500 × Gems", "kim 700 won 100 × Gems", "max 300 won 100 × Gems"]);
    await section(page, "Recently ended").getByText("3 players were granted prizes.").waitFor();
    await context.close();
  });

  it("shows the last finished run of a recurring event that has not ended, with its winner", async () => {
    const { context, page } = await openOverview(server.keys.viewer);
    const item = section(page, "Recently ended").locator("li[data-event-id]", {
      has: page.getByRole("link", { name: "Daily Dash" }),
    });
    await expect.poll(() => podium(page, "Recently ended", "Daily Dash")).toEqual(["ivy 50 won 500 × Gems"]);
    expect(await item.locator(".overview-item-head").textContent()).toBe("Daily Dashrun 1");
    expect(await item.getByText(/^Ended /).textContent()).toMatch(/^Ended 10 min ago \(/);
    await context.close();
  });

  it("counts live events, those starting within 24 hours, those ended this week and all of them", async () => {
    const { context, page } = await openOverview(server.keys.viewer);
    await expect.poll(() => stat(page, "Live now")).toBe("1");
    await expect.poll(() => stat(page, "Starting in 24 h")).toBe("3");
    await expect.poll(() => stat(page, "Ended in the last 7 days")).toBe("1");
    await expect.poll(() => stat(page, "Events in all")).toBe("6");
    await context.close();
  });

  it("shows an admin the latest changes in words, naming keys and events", async () => {
    const { context, page } = await openOverview(server.keys.admin);
    const changes = section(page, "Latest changes").locator("li");
    await expect.poll(() => changes.count()).toBe(5);
    await expect
      .poll(() => changes.evaluateAll((items) => items.map((li) => li.firstElementChild?.textContent)))
      .toEqual([
        "test-operator ended event “Weekend Cup”",
        "test-operator created event “Weekend Cup”",
        "test-operator created event “Far Festival”",
        "test-operator created event “Evening Raid”",
        "test-operator created event “Night Shift”",
      ]);
    expect(
      await section(page, "Latest changes").getByRole("link", { name: "See all changes" }).getAttribute("href"),
    ).toBe("#/audit");
    await screenshot(page, "overview");
    await context.close();
  });

  it("shows a viewer no audit entries", async () => {
    const { context, page } = await openOverview(server.keys.viewer);
    await section(page, "Recently ended").waitFor();
    expect(await section(page, "Latest changes").count()).toBe(0);
    await context.close();
  });

  // axe runs twice on a page full of cards: slow on a busy machine.
  it("has no accessibility violations and fits a 390 px wide screen", { timeout: 120_000 }, async () => {
    const { context, page } = await openOverview(server.keys.admin);
    await expect.poll(() => section(page, "Latest changes").locator("li").count()).toBe(5);
    await expect.poll(() => podium(page, "Recently ended", "Weekend Cup")).toHaveLength(3);
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.setViewportSize({ width: 390, height: 844 });
    const { scrollWidth, clientWidth } = await page.evaluate(() => {
      const root = (
        globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }
      ).document.documentElement;
      return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth };
    });
    expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
    expect(await accessibilityViolations(page)).toEqual([]);
    await screenshot(page, "overview-390");
    await context.close();
  });

  it("shows an event created through the API in Live now without a reload", async () => {
    const { context, page } = await openOverview(server.keys.viewer);
    await expect.poll(() => titlesIn(page, "Live now")).toEqual(["Spring Sprint"]);
    const operator = competitionClients(server.baseUrl, server.keys.operator);
    const now = server.clock.now();
    await operator.admin.createEvent({
      event: { title: "Flash Hour", startTime: timestampFromMs(now - MINUTE), endTime: timestampFromMs(now + HOUR) },
    });
    await expect.poll(() => titlesIn(page, "Live now")).toEqual(["Flash Hour", "Spring Sprint"]);
    await expect.poll(() => stat(page, "Live now")).toBe("2");
    await context.close();
  });
});
