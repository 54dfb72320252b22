import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClients } from "./support/clients.js";
import { leaderboard } from "./support/competition.js";
import {
  accessibilityViolations,
  chromiumFor,
  type DashboardHarness,
  screenshot,
  startDashboard,
} from "./support/dashboard.js";
import type { TestServer } from "./support/server.js";

const hasChromium = chromiumFor("dashboard events and calendar end-to-end tests");

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let dashboard: DashboardHarness;
let server: TestServer;
/** The server's "now" (2026-06-01 12:00 UTC, a Monday), which the events are placed around. */
let now: number;
/** The id of each seeded event, by title. */
const ids = new Map<string, string>();

/** The 22 ended events, newest first: "Past Cup 01" ended a day ago, "Past Rally 22" 22 days ago. */
const PAST = Array.from(
  { length: 22 },
  (_, i) => `Past ${i % 2 === 0 ? "Cup" : "Rally"} ${String(i + 1).padStart(2, "0")}`,
);
/** The live, between-runs and upcoming events, by start time. */
const CURRENT = ["Weekly Tournament", "Marathon Live", "Spring Sprint", "Summer Cup", "Autumn Open"];

/** 22 ended events, two live, one weekly between runs, two upcoming. */
async function seed() {
  const { admin } = connectClients(server.baseUrl, server.keys.admin);
  const create = async (title: string, start: number, end: number | undefined, extra = {}) => {
    const { event } = await admin.createEvent({
      event: {
        title,
        startTime: timestampFromMs(start),
        endTime: end === undefined ? undefined : timestampFromMs(end),
        ...extra,
      },
    });
    ids.set(title, event?.id ?? "");
  };
  for (const [i, title] of PAST.entries()) await create(title, now - (i + 1) * DAY - 2 * HOUR, now - (i + 1) * DAY);
  // Mondays at 18:00 UTC, two hours each, from Monday 25 May: between runs at noon on Monday 1 June.
  await create("Weekly Tournament", now - 7 * DAY + 6 * HOUR, undefined, {
    recurrence: { rule: "FREQ=WEEKLY", runDuration: { seconds: 7200n }, timeZone: "UTC" },
    leaderboard: leaderboard(),
  });
  await create("Marathon Live", now - 2 * DAY, now + 3 * DAY, { audiences: [] });
  await create("Spring Sprint", now - HOUR, now + 5 * HOUR, { leaderboard: leaderboard() });
  await create("Summer Cup", now + DAY, now + DAY + 2 * HOUR);
  await create("Autumn Open", now + 10 * DAY, now + 10 * DAY + 3 * HOUR);
}

/** Signs in with `key` and opens `hash` (e.g. "#/events"), with the browser's clock at the server's. */
async function open(key: string, hash: string): Promise<{ context: BrowserContext; page: Page }> {
  const signedIn = await dashboard.signIn(key);
  await signedIn.page.clock.setFixedTime(new Date(now));
  await signedIn.page.goto(`${server.baseUrl}/${hash}`);
  return signedIn;
}

/** The region (a section with a heading) named `name`. */
const region = (page: Page, name: string) => page.getByRole("region", { name: new RegExp(`^${name}`) });

/** The titles of the events a section of the list shows, in order. */
const titlesIn = (page: Page, section: string) => region(page, section).locator("tbody .event-title").allTextContents();

/** The count a status chip shows. */
const chipCount = (page: Page, label: string) =>
  page
    .getByRole("group", { name: "Status" })
    .getByRole("button", { name: new RegExp(`^${label}`) })
    .locator(".chip-count")
    .textContent();

/** How far the page is wider than the window (0 when nothing overflows sideways). */
const overflow = (page: Page) =>
  page.evaluate(() => {
    const root = (
      globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }
    ).document.documentElement;
    return root.scrollWidth - root.clientWidth;
  });

/** Polls `value` until it meets the expectation: pages take seconds to load on a busy machine. */
const eventually = <T>(value: () => T | Promise<T>) => expect.poll(value, { timeout: 15_000 });

/** Waits until the calendar shows the runs of the window on screen (not those of the previous one). */
const calendarLoaded = (page: Page) => page.locator('.calendar-body[aria-busy="false"]').waitFor();

/** The location's hash. */
const hashOf = (page: Page) => new URL(page.url()).hash;

/** The run links of the calendar as "title@day" (the day of the cell or column holding them). */
const runsShown = (page: Page) =>
  page
    .locator(".calendar-day")
    .evaluateAll((days) =>
      days.flatMap((day) =>
        [...day.querySelectorAll(".run-title")].map(
          (title) => `${title.textContent}@${day.querySelector("time")?.getAttribute("datetime")}`,
        ),
      ),
    );

// A page of the dashboard takes a few seconds to load on a busy machine, and some tests load several.
describe.skipIf(!hasChromium)(
  "the events list and the calendar in the dashboard (Chromium)",
  { timeout: 90_000 },
  () => {
    beforeAll(async () => {
      dashboard = await startDashboard();
      server = dashboard.server;
      now = server.clock.now();
      await seed();
    }, 180_000);
    afterAll(() => dashboard?.close());

    describe("the events list", () => {
      it("opens on live and upcoming events, soonest first, above the ended ones, newest first", async () => {
        const { context, page } = await open(server.keys.viewer, "#/events");
        await eventually(() => titlesIn(page, "Live and upcoming")).toEqual(CURRENT);
        await eventually(() => titlesIn(page, "Ended")).toEqual(PAST.slice(0, 20));
        const live = await page.getByRole("link", { name: "Spring Sprint" }).boundingBox();
        expect(live && live.y + live.height).toBeLessThan(900);
        expect(await region(page, "Live and upcoming").locator(".badge-live").count()).toBe(2);
        await screenshot(page, "events");
        expect(await accessibilityViolations(page)).toEqual([]);
        await context.close();
      });

      it("counts the events of each status and in all", async () => {
        const { context, page } = await open(server.keys.viewer, "#/events");
        await eventually(() => chipCount(page, "Live")).toBe("2");
        expect(await chipCount(page, "Upcoming")).toBe("2");
        expect(await chipCount(page, "Between runs")).toBe("1");
        expect(await chipCount(page, "Ended")).toBe("22");
        expect(await chipCount(page, "All")).toBe("27");
        expect(await page.locator(".events-total").textContent()).toMatch(/^27 events\. Times in UTC\.$/);
        await context.close();
      });

      it("links each event to its page and marks those with a leaderboard or a schedule", async () => {
        const { context, page } = await open(server.keys.viewer, "#/events");
        const row = page.locator(`tr[data-event-id="${ids.get("Weekly Tournament")}"]`);
        await row.waitFor();
        expect(await row.getByRole("link", { name: "Weekly Tournament" }).getAttribute("href")).toBe(
          `#/events/${ids.get("Weekly Tournament")}`,
        );
        expect(await row.textContent()).toContain("Repeats");
        expect(await row.textContent()).toContain("Next run");
        expect(await row.locator(".event-leaderboard").count()).toBe(1);
        const oneOff = page.locator(`tr[data-event-id="${ids.get("Summer Cup")}"]`);
        expect(await oneOff.locator(".event-leaderboard").count()).toBe(0);
        expect(await oneOff.textContent()).toContain("Every player");
        await context.close();
      });

      it("narrows both sections and the counts to the titles holding the search, and puts it in the URL", async () => {
        const { context, page } = await open(server.keys.viewer, "#/events");
        await region(page, "Ended").locator("tbody tr").first().waitFor();
        await page.getByRole("searchbox", { name: "Search events by title" }).fill("cup");
        await eventually(() => titlesIn(page, "Live and upcoming")).toEqual(["Summer Cup"]);
        await eventually(() => titlesIn(page, "Ended")).toEqual(PAST.filter((t) => t.includes("Cup")));
        expect(await chipCount(page, "Ended")).toBe("11");
        expect(await chipCount(page, "Live")).toBe("0");
        expect(hashOf(page)).toBe("#/events?q=cup");
        await context.close();
      });

      it("filters by several statuses at once, leaving out the sections of the others", async () => {
        const { context, page } = await open(server.keys.viewer, "#/events");
        const chips = page.getByRole("group", { name: "Status" });
        await chips.getByRole("button", { name: /^Live/ }).click();
        await chips.getByRole("button", { name: /^Upcoming/ }).click();
        await eventually(() => titlesIn(page, "Live and upcoming")).toEqual([
          "Marathon Live",
          "Spring Sprint",
          "Summer Cup",
          "Autumn Open",
        ]);
        expect(await region(page, "Ended").count()).toBe(0);
        expect(await chips.getByRole("button", { name: /^Live/ }).getAttribute("aria-pressed")).toBe("true");
        expect(hashOf(page)).toBe("#/events?status=live,upcoming");
        await chips.getByRole("button", { name: /^Ended/ }).click();
        await eventually(() => titlesIn(page, "Ended")).toEqual(PAST.slice(0, 20));
        await context.close();
      });

      it("opens on the filters and search of its URL", async () => {
        const { context, page } = await open(server.keys.viewer, "#/events?status=ended&q=rally");
        await eventually(() => titlesIn(page, "Ended")).toEqual(PAST.filter((t) => t.includes("Rally")));
        expect(await region(page, "Live and upcoming").count()).toBe(0);
        expect(await page.getByRole("searchbox", { name: "Search events by title" }).inputValue()).toBe("rally");
        await context.close();
      });

      it("keeps its page after visiting an event's page and going Back", async () => {
        const { context, page } = await open(server.keys.viewer, "#/events");
        const ended = region(page, "Ended");
        await eventually(() => titlesIn(page, "Ended")).toEqual(PAST.slice(0, 20));
        await ended.getByRole("button", { name: "Next" }).click();
        await eventually(() => titlesIn(page, "Ended")).toEqual(PAST.slice(20));
        expect(await ended.getByRole("navigation").textContent()).toContain("Page 2");
        await ended.getByRole("link", { name: PAST[21] as string }).click();
        await eventually(() => hashOf(page)).toBe(`#/events/${ids.get(PAST[21] as string)}`);
        await page.goBack();
        await eventually(() => titlesIn(page, "Ended")).toEqual(PAST.slice(20));
        expect(await ended.getByRole("navigation").textContent()).toContain("Page 2");
        await ended.getByRole("button", { name: "Previous" }).click();
        await eventually(() => titlesIn(page, "Ended")).toEqual(PAST.slice(0, 20));
        await context.close();
      });

      it("fits a 390 px wide screen without accessibility violations", async () => {
        const { context, page } = await open(server.keys.operator, "#/events");
        await page.setViewportSize({ width: 390, height: 844 });
        await eventually(() => titlesIn(page, "Live and upcoming")).toEqual(CURRENT);
        expect(await overflow(page)).toBe(0);
        expect(await accessibilityViolations(page)).toEqual([]);
        await screenshot(page, "events-390");
        await context.close();
      });

      it("offers no management to a viewer key", async () => {
        const { context, page } = await open(server.keys.viewer, "#/events");
        await region(page, "Live and upcoming").locator("tbody tr").first().waitFor();
        expect(await page.getByRole("button", { name: "New event" }).count()).toBe(0);
        expect(await page.getByRole("button", { name: /^(Edit|Delete|End now)/ }).count()).toBe(0);
        await context.close();
      });

      it("lets an operator create an event, which the list then shows among the upcoming ones", async () => {
        const { context, page } = await open(server.keys.operator, "#/events");
        await page.getByRole("button", { name: "New event" }).click();
        await page.getByLabel("Title").fill("Winter Cup");
        await page.getByLabel("Start date", { exact: true }).fill("2026-06-20");
        await page.getByLabel("Start time", { exact: true }).fill("10:00");
        await page.getByLabel("End date", { exact: true }).fill("2026-06-20");
        await page.getByLabel("End time", { exact: true }).fill("12:00");
        await page.getByRole("button", { name: "Create event" }).click();
        await eventually(() => titlesIn(page, "Live and upcoming")).toEqual([...CURRENT, "Winter Cup"]);
        const notice = page.getByText("Created “Winter Cup”.");
        expect(await notice.getByRole("link", { name: "Open its page" }).getAttribute("href")).toMatch(
          /^#\/events\/[0-9a-f-]{36}$/,
        );
        await eventually(() => chipCount(page, "Upcoming")).toBe("3");
        await context.close();
      });
    });

    describe("the calendar", () => {
      it("shows the month of today with its runs, each linking to its event, the live ones highlighted", async () => {
        const { context, page } = await open(server.keys.viewer, "#/calendar");
        await page.getByRole("heading", { name: "June 2026" }).waitFor();
        await eventually(() => runsShown(page)).toEqual(expect.arrayContaining(["Summer Cup@2026-06-02"]));
        const shown = await runsShown(page);
        for (const day of ["01", "08", "15", "22", "29"]) expect(shown).toContain(`Weekly Tournament@2026-06-${day}`);
        for (const day of ["01", "02", "03", "04"]) expect(shown).toContain(`Marathon Live@2026-06-${day}`);
        expect(shown).toContain("Spring Sprint@2026-06-01");
        expect(shown).toContain("Autumn Open@2026-06-11");
        expect(shown.some((run) => run.startsWith("Past"))).toBe(false);

        const summer = page.locator(`a.calendar-run[data-event-id="${ids.get("Summer Cup")}"]`);
        expect(await summer.getAttribute("href")).toBe(`#/events/${ids.get("Summer Cup")}`);
        const live = await page.locator("a.calendar-run.live .run-title").allTextContents();
        expect(new Set(live)).toEqual(new Set(["Marathon Live", "Spring Sprint"]));
        expect(await page.locator("a.calendar-run.live").first().textContent()).toContain("Live");
        expect(await page.getByText("Times in UTC").count()).toBe(1);
        expect(await page.locator('td[aria-current="date"] time').getAttribute("datetime")).toBe("2026-06-01");
        await calendarLoaded(page);
        await screenshot(page, "calendar-month");
        expect(await accessibilityViolations(page)).toEqual([]);

        await summer.click();
        await eventually(() => hashOf(page)).toBe(`#/events/${ids.get("Summer Cup")}`);
        await context.close();
      });

      it("goes to the previous and next month and back to today, from the keyboard too", async () => {
        const { context, page } = await open(server.keys.viewer, "#/calendar");
        await page.getByRole("heading", { name: "June 2026" }).waitFor();
        await page.getByRole("button", { name: "Previous month" }).focus();
        await page.keyboard.press("Enter");
        await page.getByRole("heading", { name: "May 2026" }).waitFor();
        await eventually(() => runsShown(page)).toContain(`${PAST[0]}@2026-05-31`);
        expect(hashOf(page)).toBe("#/calendar?date=2026-05-01");
        await page.keyboard.press("Tab");
        await page.keyboard.press("Tab");
        await page.keyboard.press("Enter");
        await page.getByRole("heading", { name: "June 2026" }).waitFor();
        await page.getByRole("button", { name: "Previous month" }).click();
        await page.getByRole("button", { name: "Today" }).click();
        await page.getByRole("heading", { name: "June 2026" }).waitFor();
        expect(hashOf(page)).toBe("#/calendar");
        await context.close();
      });

      it("shows a week's runs with their times, and the next week's", async () => {
        const { context, page } = await open(server.keys.viewer, "#/calendar");
        await page.getByRole("button", { name: "Week" }).click();
        expect(hashOf(page)).toBe("#/calendar?view=week&date=2026-06-01");
        await eventually(() => runsShown(page)).toContain("Summer Cup@2026-06-02");
        const shown = await runsShown(page);
        expect(shown).toContain("Weekly Tournament@2026-06-01");
        expect(shown).not.toContain("Autumn Open@2026-06-11");
        expect(await page.locator(".calendar-day").count()).toBe(7);
        const weekly = page.locator(`a.calendar-run[data-event-id="${ids.get("Weekly Tournament")}"]`);
        expect(await weekly.textContent()).toMatch(/^(18:00|06:00 PM) – (20:00|08:00 PM) Weekly Tournament \(run 2\)$/);
        await calendarLoaded(page);
        await screenshot(page, "calendar-week");
        expect(await accessibilityViolations(page)).toEqual([]);

        await page.getByRole("button", { name: "Next week" }).click();
        await eventually(() => runsShown(page)).toContain("Autumn Open@2026-06-11");
        expect(await runsShown(page)).toContain("Weekly Tournament@2026-06-08");
        await context.close();
      });

      it("fits a 390 px wide screen, month and week, without accessibility violations", async () => {
        const { context, page } = await open(server.keys.viewer, "#/calendar");
        await page.setViewportSize({ width: 390, height: 844 });
        await eventually(() => runsShown(page)).toContain("Summer Cup@2026-06-02");
        await calendarLoaded(page);
        expect(await overflow(page)).toBe(0);
        expect(await accessibilityViolations(page)).toEqual([]);
        await screenshot(page, "calendar-390");
        await page.getByRole("button", { name: "Week" }).click();
        await eventually(() => page.locator(".calendar-day").count()).toBe(7);
        await calendarLoaded(page);
        expect(await overflow(page)).toBe(0);
        expect(await accessibilityViolations(page)).toEqual([]);
        await context.close();
      });
    });
  },
);
