import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { connectClients } from "./support/clients.js";
import { competitionClients, createCompetition, leaderboard } from "./support/competition.js";
import { chromiumFor, type DashboardHarness, SCREENSHOTS, startDashboard } from "./support/dashboard.js";
import type { TestServer } from "./support/server.js";

const hasChromium = chromiumFor("dashboard end-to-end tests");

let dashboard: DashboardHarness;
let server: TestServer;
/** The content type of every RPC the pages made. */
const rpcContentTypes: string[] = [];

/** Signs in with `key`, recording the content type of every RPC the page makes. */
function signedIn(key: string): Promise<{ context: BrowserContext; page: Page }> {
  return dashboard.signIn(key, (context) =>
    context.on("request", (request) => {
      if (request.method() === "POST" && new URL(request.url()).pathname.startsWith("/liveops.")) {
        rpcContentTypes.push(request.headers()["content-type"] ?? "");
      }
    }),
  );
}

describe.skipIf(!hasChromium)("the dashboard in Chromium", () => {
  beforeAll(async () => {
    dashboard = await startDashboard();
    server = dashboard.server;
  });
  afterAll(() => dashboard?.close());

  it("serves the page with its content types and cache headers", async () => {
    const index = await fetch(`${server.baseUrl}/`);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    const html = await index.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    const asset = await fetch(`${server.baseUrl}${script}`);
    expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const again = await fetch(`${server.baseUrl}${script}`, {
      headers: { "if-none-match": asset.headers.get("etag") ?? "" },
    });
    expect(again.status).toBe(304);
  });

  it("signs in, refuses an end before the start next to the field, then creates the event", async () => {
    const { context, page } = await signedIn(server.keys.operator);
    await page.getByRole("button", { name: "Create event" }).click();
    await page.getByLabel("Title").fill("Browser Cup");
    await page.getByLabel("Start (your time zone)").fill("2026-06-02T10:00:00");
    await page.getByLabel("End (your time zone)").fill("2026-06-02T09:00:00");
    await page.getByRole("button", { name: "Create event" }).click();
    const error = page.locator(".field.invalid", { has: page.getByLabel("End (your time zone)") }).getByRole("alert");
    await expect.poll(() => error.textContent()).toContain("must be after start_time");
    await page.screenshot({ path: `${SCREENSHOTS}/event-form-error.png`, fullPage: true });
    await page.getByLabel("End (your time zone)").fill("2026-06-02T12:00:00");
    await page.getByRole("button", { name: "Create event" }).click();
    await page.getByRole("cell", { name: "Browser Cup" }).waitFor();
    await context.close();
  });

  it("shows an event created by another client without reloading", async () => {
    const { context, page } = await signedIn(server.keys.viewer);
    const other = connectClients(server.baseUrl, server.keys.operator);
    const now = server.clock.now();
    await other.admin.createEvent({
      event: {
        title: "Made elsewhere",
        startTime: timestampFromMs(now - 60_000),
        endTime: timestampFromMs(now + 3_600_000),
      },
    });
    const row = page.getByRole("row", { name: /Made elsewhere/ });
    await row.waitFor();
    expect(await row.getByText("live").count()).toBe(1);
    await page.screenshot({ path: `${SCREENSHOTS}/events.png`, fullPage: true });
    await context.close();
  });

  it("updates a leaderboard live when a score is submitted through the API", async () => {
    const operator = competitionClients(server.baseUrl, server.keys.operator);
    const id = await createCompetition(operator.admin, leaderboard(), server.clock.now());
    const { context, page } = await signedIn(server.keys.viewer);
    await page
      .getByRole("row", { name: /Cup/ })
      .filter({ has: page.getByRole("button", { name: "Leaderboard" }) })
      .last()
      .getByRole("button", { name: "Leaderboard" })
      .click();
    await page.getByRole("heading", { name: /Leaderboard/ }).waitFor();
    await page.getByText("No scores yet.").waitFor();
    const game = competitionClients(server.baseUrl, server.keys.game_server);
    // WatchLeaderboard spaces its messages on the server's clock, which this test moves as time passes.
    const ticker = setInterval(() => server.clock.advance(250), 250);
    onTestFinished(() => clearInterval(ticker));
    await game.boards.submitScore({ eventId: id, playerId: "browser-player", score: 42n });
    await page.getByRole("cell", { name: "browser-player" }).waitFor();
    await game.boards.submitScore({ eventId: id, playerId: "faster-player", score: 99n });
    await expect
      .poll(async () => page.locator("tbody tr").first().getAttribute("data-player-id"))
      .toBe("faster-player");
    await page.screenshot({ path: `${SCREENSHOTS}/leaderboard.png`, fullPage: true });
    await context.close();
  });

  it("hides what a viewer key may not do", async () => {
    const { context, page } = await signedIn(server.keys.viewer);
    expect(await page.getByRole("button", { name: "Create event" }).count()).toBe(0);
    expect(await page.getByRole("button", { name: "Delete" }).count()).toBe(0);
    expect(await page.getByRole("link", { name: "API keys" }).count()).toBe(0);
    await context.close();
  });

  it("lets an admin create a key (secret shown once) and read the audit log", async () => {
    const { context, page } = await signedIn(server.keys.admin);
    await page.getByRole("cell", { name: "Made elsewhere" }).waitFor();
    await page.screenshot({ path: `${SCREENSHOTS}/events-admin.png`, fullPage: true });
    // Delete asks first.
    const row = page.getByRole("row", { name: /Browser Cup/ });
    await row.getByRole("button", { name: "Delete" }).click();
    await row.getByText("Delete “Browser Cup”?").waitFor();
    await row.getByRole("button", { name: "Yes, delete" }).click();
    await expect.poll(() => page.getByRole("cell", { name: "Browser Cup" }).count()).toBe(0);
    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByLabel("Name").fill("from the dashboard");
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = await page.getByTestId("new-secret").textContent();
    expect(secret).toMatch(/^lo_[0-9a-f]{16}_/);
    await page.getByRole("cell", { name: "from the dashboard" }).waitFor();
    await page.screenshot({ path: `${SCREENSHOTS}/api-keys.png`, fullPage: true });
    await page.getByRole("link", { name: "Audit log" }).click();
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    await page.getByRole("cell", { name: "CreateApiKey" }).first().waitFor();
    await page.screenshot({ path: `${SCREENSHOTS}/audit-log.png`, fullPage: true });
    await context.close();
  });

  it("made every call with gRPC-Web", () => {
    expect(rpcContentTypes.length).toBeGreaterThan(10);
    expect(new Set(rpcContentTypes)).toEqual(new Set(["application/grpc-web+proto"]));
  });
});
