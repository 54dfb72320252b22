import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { LeaderboardOrder, ScoreOperator } from "../gen/liveops/v1/event_pb.js";
import { connectClients, type EventClients } from "./support/clients.js";
import {
  accessibilityViolations,
  chromiumFor,
  type DashboardHarness,
  screenshot,
  startDashboard,
} from "./support/dashboard.js";
import type { TestServer } from "./support/server.js";

const hasChromium = chromiumFor("dashboard schedule builder end-to-end tests");

let dashboard: DashboardHarness;
let server: TestServer;
let api: EventClients;

/**
 * Signs in with `key` in a browser in Europe/Berlin with a British locale (24-hour clock in the time inputs); the
 * harness's own contexts are in UTC, and a context's zone is fixed when it is made.
 */
async function signedInBerlin(key: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await dashboard.browser.newContext({
    timezoneId: "Europe/Berlin",
    locale: "en-GB",
    viewport: { width: 1280, height: 900 },
  });
  onTestFinished(() => context.close());
  const page = await context.newPage();
  await page.goto(server.baseUrl);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("● Live updates").waitFor();
  return { context, page };
}

/** Opens the form of a new event from the events list. */
async function newEventForm(page: Page) {
  await page.goto(`${server.baseUrl}/#/events`);
  await page.getByRole("button", { name: "New event" }).click();
  await page.getByRole("form", { name: "Create event" }).waitFor();
}

/** Ticks exactly the weekdays named. */
async function pickWeekdays(page: Page, days: string[]) {
  for (const day of ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]) {
    await page.getByLabel(day, { exact: true }).setChecked(days.includes(day));
  }
}

/** Fills the builder with "every Sunday at 18:00, two hours, ten runs, from 2027-03-14". */
async function weeklySundayCup(page: Page) {
  await page.getByLabel("Title").fill("Sunday Cup");
  await page.getByLabel("Repeatedly").check();
  await page.getByLabel("Repeats", { exact: true }).selectOption("WEEKLY");
  await pickWeekdays(page, ["Sunday"]);
  await page.getByLabel("First run on or after").fill("2027-03-14");
  await page.getByLabel("Time of day").fill("18:00");
  await page.getByLabel("Hours").fill("2");
  await page.getByLabel("Minutes").fill("0");
  await page.getByLabel("After", { exact: true }).check();
  await page.getByLabel("Number of runs").fill("10");
}

/** Whether the page is wider than the viewport. */
const overflows = (page: Page) =>
  page.evaluate<boolean>("document.documentElement.scrollWidth > document.documentElement.clientWidth");

/** The text shown as the error of the field holding the input labelled `label`. */
function fieldError(page: Page, label: string) {
  return page.locator(".field", { has: page.getByLabel(label, { exact: true }) }).locator(".field-error");
}

// A browser on a busy machine (the tests of both backends at once) takes its time.
describe.skipIf(!hasChromium)(
  "the schedule builder and the event form (Chromium in Europe/Berlin)",
  { timeout: 120_000 },
  () => {
    beforeAll(async () => {
      dashboard = await startDashboard();
      server = dashboard.server;
      api = connectClients(server.baseUrl, server.keys.admin);
    }, 300_000); // the first end-to-end file of a run builds the dashboard
    afterAll(() => dashboard?.close());

    it("schedules a weekly tournament at 18:00 Berlin time that stays at 18:00 across the change to summer time", async () => {
      const { page } = await signedInBerlin(server.keys.operator);
      await newEventForm(page);
      // The zone is the browser's unless chosen, and said on screen.
      expect(await page.getByLabel("Time zone").inputValue()).toBe("Europe/Berlin");
      await weeklySundayCup(page);
      expect(await page.getByText("Every date and time of this schedule is in").textContent()).toMatch(
        /Europe\/Berlin \(your time zone\)\.$/,
      );
      expect((await page.locator(".schedule-words").textContent())?.trim()).toBe(
        "Every Sunday at 18:00 (Europe/Berlin), for 2 hours, 10 runs",
      );
      const runs = page.getByRole("region", { name: "Next runs" }).getByRole("listitem");
      expect(await runs.allTextContents()).toEqual([
        "Sun, 14 Mar 2027, 18:00–20:00 Europe/Berlin",
        "Sun, 21 Mar 2027, 18:00–20:00 Europe/Berlin",
        "Sun, 28 Mar 2027, 18:00–20:00 Europe/Berlin",
        "Sun, 4 Apr 2027, 18:00–20:00 Europe/Berlin",
        "Sun, 11 Apr 2027, 18:00–20:00 Europe/Berlin",
      ]);
      expect(await page.getByText("start_time").count()).toBe(0);
      expect(await accessibilityViolations(page)).toEqual([]);
      await screenshot(page, "schedule-builder");

      await page.getByRole("button", { name: "Create event" }).click();
      await page.getByRole("form", { name: "Create event" }).waitFor({ state: "detached" });
      const { events } = await api.events.listEvents({ titleQuery: "Sunday Cup" });
      expect(events).toHaveLength(1);
      const event = events[0];
      expect(event?.recurrence?.rule).toBe("FREQ=WEEKLY;BYDAY=SU;BYHOUR=18;BYMINUTE=0;COUNT=10");
      expect(event?.recurrence?.timeZone).toBe("Europe/Berlin");
      expect(event?.recurrence?.runDuration?.seconds).toBe(7200n);
      const listed = await api.events.listEventRuns({ eventId: event?.id ?? "", pageSize: 10 });
      const starts = listed.runs.map((run) => run.startTime && timestampDate(run.startTime).toISOString());
      // 18:00 in Berlin: 17:00Z in winter (CET), 16:00Z from 28 March 2027 (CEST).
      expect(starts.slice(0, 4)).toEqual([
        "2027-03-14T17:00:00.000Z",
        "2027-03-21T17:00:00.000Z",
        "2027-03-28T16:00:00.000Z",
        "2027-04-04T16:00:00.000Z",
      ]);
      expect(starts).toHaveLength(10);
    });

    it("fits a 390 px wide screen", async () => {
      const { page } = await signedInBerlin(server.keys.operator);
      await page.setViewportSize({ width: 390, height: 844 });
      await newEventForm(page);
      await weeklySundayCup(page);
      await page.getByLabel("Time zone").selectOption("America/New_York");
      // Another zone than the viewer's: each run also in the viewer's.
      expect(await page.getByRole("region", { name: "Next runs" }).getByRole("listitem").first().textContent()).toBe(
        "Sun, 14 Mar 2027, 18:00–20:00 America/New_York · Sun, 14 Mar 2027, 23:00–Mon, 15 Mar 2027, 01:00 Europe/Berlin (your time)",
      );
      expect(await overflows(page)).toBe(false);
      expect(await accessibilityViolations(page)).toEqual([]);
      await screenshot(page, "schedule-builder-390");
    });

    it("shows a refused input's error on that input, in words, with the focus on the first", async () => {
      const { page } = await signedInBerlin(server.keys.operator);
      await newEventForm(page);
      await page.getByLabel("Title").fill("Backwards");
      await page.getByLabel("Start date").fill("2027-05-02");
      await page.getByLabel("Start time").fill("18:00");
      await page.getByLabel("End date").fill("2027-05-01");
      await page.getByLabel("End time").fill("18:00");
      await page.getByLabel("Players compete on a leaderboard").check();
      await page.getByRole("button", { name: "Add prize tier" }).click();
      await page.getByLabel("Tier 1: from rank").fill("3");
      await page.getByLabel("Tier 1: to rank").fill("1");
      await page.getByLabel("Tier 1 reward 1 id").fill("gold");
      await page.getByLabel("Tier 1 reward 1 name").fill("Gold");
      await page.getByRole("button", { name: "Create event" }).click();
      await expect.poll(() => fieldError(page, "End date").textContent()).toBe("must be after the start");
      expect(await fieldError(page, "Tier 1: to rank").textContent()).toBe("must be at least the tier's first rank");
      expect(await fieldError(page, "Tier 1: from rank").count()).toBe(0);
      expect(await page.evaluate<string | undefined>("document.activeElement?.id")).toBe(
        await page.getByLabel("End date").getAttribute("id"),
      );
      for (const apiName of ["start_time", "end_time", "rank_from", "prize_tiers"]) {
        expect([apiName, await page.getByText(apiName).count()]).toEqual([apiName, 0]);
      }
      expect(await accessibilityViolations(page)).toEqual([]);
      await screenshot(page, "event-form-errors");
    });

    it("disables a live event's locked fields and says why", async () => {
      const now = server.clock.now();
      const started = new Date(now - 3_600_000);
      const { event } = await api.admin.createEvent({
        event: {
          title: "Live daily",
          startTime: timestampFromMs(started.getTime()),
          recurrence: {
            rule: `FREQ=DAILY;BYHOUR=${started.getUTCHours()};BYMINUTE=0`,
            runDuration: { seconds: 7200n },
            timeZone: "UTC",
          },
          leaderboard: { order: LeaderboardOrder.HIGHER_FIRST, scoreOperator: ScoreOperator.BEST },
        },
      });
      const { page } = await signedInBerlin(server.keys.operator);
      await page.goto(`${server.baseUrl}/#/events/${event?.id}`);
      await page.getByRole("button", { name: "Edit", exact: true }).click();
      await page.getByRole("form", { name: "Edit event" }).waitFor();
      for (const reason of [
        "Locked while the event is live: its first run has already started.",
        "Locked while a run is live: changing the schedule would move a run players are already playing.",
        "Locked while the event is live: changing it would change the scores already submitted.",
      ]) {
        await page.getByText(reason).waitFor();
      }
      for (const label of ["Time zone", "Time of day", "First run on or after", "Hours", "Ranking", "Score operator"]) {
        expect([label, await page.getByLabel(label, { exact: true }).isDisabled()]).toEqual([label, true]);
      }
      expect(await page.getByLabel("Title").isDisabled()).toBe(false);
      expect(await page.getByLabel("Description").isDisabled()).toBe(false);
      expect(await accessibilityViolations(page)).toEqual([]);
    });
  },
);
