import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventAdminService } from "../gen/liveops/v1/event_admin_service_pb.js";
import { LeaderboardOrder, ScoreOperator } from "../gen/liveops/v1/event_pb.js";
import { bearer } from "./support/clients.js";
import {
  accessibilityViolations,
  adminRoutes,
  chromiumFor,
  type DashboardHarness,
  openView,
  startDashboard,
} from "./support/dashboard.js";

const hasChromium = chromiumFor("dashboard accessibility end-to-end tests");

let dashboard: DashboardHarness;
let eventId: string;

/** How far the page is wider than the window (0 when nothing overflows sideways). */
const overflow = (page: Page) =>
  page.evaluate(() => {
    const root = (
      globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }
    ).document.documentElement;
    return root.scrollWidth - root.clientWidth;
  });

describe.skipIf(!hasChromium)("every view of the dashboard", () => {
  beforeAll(async () => {
    dashboard = await startDashboard();
    const { server } = dashboard;
    const admin = createClient(
      EventAdminService,
      createConnectTransport({
        baseUrl: server.baseUrl,
        httpVersion: "1.1",
        interceptors: [bearer(server.keys.admin)],
      }),
    );
    const now = server.clock.now();
    const created = await admin.createEvent({
      event: {
        title: "Accessibility Cup",
        description: "A live event with a leaderboard, so every part of the event page is drawn.",
        startTime: timestampFromMs(now - 3_600_000),
        endTime: timestampFromMs(now + 86_400_000),
        rewards: [{ id: "gems", name: "Gems", quantity: 50n }],
        leaderboard: {
          order: LeaderboardOrder.HIGHER_FIRST,
          scoreOperator: ScoreOperator.BEST,
          prizeTiers: [{ rankFrom: 1, rankTo: 3, rewards: [{ id: "trophy", name: "Trophy", quantity: 1n }] }],
        },
      },
    });
    eventId = created.event?.id ?? "";
  });
  afterAll(() => dashboard?.close());

  it("has no WCAG 2.1 A or AA violations that axe-core finds, on any view", async () => {
    const { context, page } = await dashboard.signIn(dashboard.server.keys.admin);
    const found: string[] = [];
    for (const route of adminRoutes(eventId)) {
      await openView(page, route);
      found.push(...(await accessibilityViolations(page)).map((v) => `${route}: ${v}`));
    }
    await context.close();
    expect(found).toEqual([]);
  });

  it("fits a 390 px wide phone on every view: nothing overflows the page sideways", async () => {
    const { context, page } = await dashboard.signIn(dashboard.server.keys.admin);
    await page.setViewportSize({ width: 390, height: 844 });
    const wide: string[] = [];
    for (const route of adminRoutes(eventId)) {
      await openView(page, route);
      const by = await overflow(page);
      if (by > 0) wide.push(`${route}: ${by} px too wide`);
    }
    await context.close();
    expect(wide).toEqual([]);
  });

  it("has no violations on the sign-in page either", async () => {
    const context = await dashboard.browser.newContext();
    const page = await context.newPage();
    await page.goto(dashboard.server.baseUrl);
    await page.getByLabel("API key").waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
    await context.close();
  });

  it("would see a violation: an image without a text alternative planted on the page is reported", async () => {
    const context = await dashboard.browser.newContext();
    const page = await context.newPage();
    await page.goto(dashboard.server.baseUrl);
    await page.getByLabel("API key").waitFor();
    await page.evaluate(() => {
      const doc = (
        globalThis as unknown as { document: { body: { insertAdjacentHTML(at: string, html: string): void } } }
      ).document;
      doc.body.insertAdjacentHTML("beforeend", '<img src="/favicon.svg">');
    });
    expect((await accessibilityViolations(page)).join("\n")).toMatch(/^image-alt /m);
    await context.close();
  });
});
