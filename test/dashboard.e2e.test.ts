import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { competitionClients, createCompetition, leaderboard } from "./support/competition.js";
import { adminRoutes, chromiumFor, type DashboardHarness, openView, startDashboard } from "./support/dashboard.js";
import type { TestServer } from "./support/server.js";

// The dashboard as a whole: how its files are served, what a role sees, and the protocol of every call it makes.
// Each view has its own end-to-end file (dashboard-*.e2e.test.ts).

const hasChromium = chromiumFor("dashboard end-to-end tests");

let dashboard: DashboardHarness;
let server: TestServer;
let eventId: string;
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
    const operator = competitionClients(server.baseUrl, server.keys.operator);
    eventId = await createCompetition(operator.admin, leaderboard(), server.clock.now());
  }, 300_000);
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

  it("sends Chromium its script brotli-compressed", async () => {
    const context = await dashboard.browser.newContext();
    const page = await context.newPage();
    const script = page.waitForResponse((response) => /\/assets\/.+\.js$/.test(response.url()));
    await page.goto(server.baseUrl);
    expect((await (await script).allHeaders())["content-encoding"]).toBe("br");
    await context.close();
  });

  it("hides what a viewer key may not do, on every view it can open", async () => {
    const { context, page } = await signedIn(server.keys.viewer);
    expect(await page.getByRole("link", { name: "API keys" }).count()).toBe(0);
    expect(await page.getByRole("link", { name: "Audit log" }).count()).toBe(0);
    expect(await page.getByRole("link", { name: "Players" }).count()).toBe(0);
    await openView(page, "/events");
    expect(await page.getByRole("button", { name: /New event/ }).count()).toBe(0);
    await openView(page, `/events/${eventId}`);
    await page.getByRole("heading", { name: "Cup", exact: false }).first().waitFor();
    for (const action of [/^Edit/, /^End now/, /^Delete/]) {
      expect(await page.getByRole("button", { name: action }).count(), String(action)).toBe(0);
    }
    // A route the role may not use shows the overview instead.
    await openView(page, "/keys");
    expect(await page.getByRole("heading", { name: "API keys" }).count()).toBe(0);
    await context.close();
  });

  it("made every call with gRPC-Web, on every view an admin opens", async () => {
    const { context, page } = await signedIn(server.keys.admin);
    for (const route of adminRoutes(eventId)) {
      await openView(page, route);
    }
    await context.close();
    expect(rpcContentTypes.length).toBeGreaterThan(10);
    expect(new Set(rpcContentTypes)).toEqual(new Set(["application/grpc-web+proto"]));
  });
});
