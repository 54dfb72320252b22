import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Player, PlayerService } from "../gen/liveops/v1/player_service_pb.js";
import { bearer } from "./support/clients.js";
import { chromiumFor, type DashboardHarness, SCREENSHOTS, startDashboard } from "./support/dashboard.js";
import type { TestServer } from "./support/server.js";

const hasChromium = chromiumFor("dashboard players and audiences end-to-end tests");

let dashboard: DashboardHarness;
let server: TestServer;
/** Every player stored once the test's four are: others may be there too (the test server's player token's). */
let stored: Player[];

/** How many stored players `predicate` holds for, as the server should count them. */
const countOf = (predicate: (player: Player) => boolean) => stored.filter(predicate).length;
const numberOf = (player: Player, name: string) => {
  const kind = player.properties[name]?.kind;
  return kind?.case === "numberValue" ? kind.value : undefined;
};
const lacks = (name: string) => (player: Player) => player.properties[name] === undefined;
const inFrance = (player: Player) => {
  const kind = player.properties.country?.kind;
  return kind?.case === "stringValue" && kind.value === "FR";
};

const signedIn = (key: string) => dashboard.signIn(key);

/** Four players: three whose id starts with "p-", three in France, one without a level; then every player stored. */
async function storePlayers(): Promise<Player[]> {
  const players = createClient(
    PlayerService,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", interceptors: [bearer(server.keys.admin)] }),
  );
  const text = (value: string) => ({ kind: { case: "stringValue" as const, value } });
  const number = (value: number) => ({ kind: { case: "numberValue" as const, value } });
  await players.setPlayerProperties({
    playerId: "p-alice",
    properties: {
      country: text("FR"),
      level: number(12),
      vip: { kind: { case: "boolValue", value: true } },
      last_seen: { kind: { case: "timestampValue", value: timestampFromMs(Date.UTC(2026, 5, 1, 18, 30)) } },
    },
  });
  await players.setPlayerProperties({ playerId: "p-bob", properties: { country: text("DE"), level: number(3) } });
  await players.setPlayerProperties({ playerId: "p-carol", properties: { country: text("FR"), level: number(30) } });
  await players.setPlayerProperties({ playerId: "q-dave", properties: { country: text("FR") } });
  return (await players.listPlayers({ pageSize: 500 })).players;
}

/** The ids of the players the table shows. */
async function playerIds(page: Page): Promise<string[]> {
  return await page
    .locator("tbody tr[data-player-id]")
    .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-player-id") ?? ""));
}

/** Checks what the preview says of the players whose evaluation failed (for lacking a property): nothing if none. */
async function expectFailures(page: Page, failed: number) {
  const failures = page.getByTestId("preview-failures");
  if (failed === 0) expect(await failures.count()).toBe(0);
  else {
    expect(await failures.textContent()).toMatch(
      new RegExp(`^${failed} players? could not be evaluated \\(counted as not matching\\): \\S`),
    );
  }
}

/** The text shown as the error of the field holding the input labelled `label`. */
function fieldError(page: Page, label: string) {
  return page.locator(".field", { has: page.getByLabel(label, { exact: true }) }).locator(".field-error");
}

describe.skipIf(!hasChromium)("players and audiences in the dashboard (Chromium)", () => {
  beforeAll(async () => {
    dashboard = await startDashboard();
    server = dashboard.server;
    stored = await storePlayers();
  });
  afterAll(() => dashboard?.close());

  it("searches players by id prefix and by filter, the filter's error under it, and shows typed properties", async () => {
    const { context, page } = await signedIn(server.keys.admin);
    await page.getByRole("link", { name: "Players" }).click();
    await page.getByRole("heading", { name: "Players" }).waitFor();
    expect(stored.map((p) => p.id)).toEqual(expect.arrayContaining(["p-alice", "p-bob", "p-carol", "q-dave"]));
    await expect.poll(() => playerIds(page)).toEqual(stored.map((p) => p.id));

    await page.getByLabel("Id starts with").fill("p-");
    await page.getByRole("button", { name: "Search" }).click();
    await expect.poll(() => playerIds(page)).toEqual(["p-alice", "p-bob", "p-carol"]);

    await page.getByLabel("Filter (CEL)").fill('player.properties.country == "FR" &&');
    await page.getByRole("button", { name: "Search" }).click();
    await expect.poll(() => fieldError(page, "Filter (CEL)").textContent()).toMatch(/^1:\d+: \S/);
    expect(await page.getByRole("alert").count()).toBe(1);
    await page.screenshot({ path: `${SCREENSHOTS}/players-filter-error.png`, fullPage: true });

    await page.getByLabel("Filter (CEL)").fill('player.properties.country == "FR"');
    await page.getByRole("button", { name: "Search" }).click();
    await expect.poll(() => playerIds(page)).toEqual(["p-alice", "p-carol"]);
    expect(await fieldError(page, "Filter (CEL)").count()).toBe(0);
    await expect.poll(() => page.locator('tr[data-player-id="p-alice"] td').nth(1).textContent()).toBe("4");

    await page.getByRole("button", { name: "Open p-alice" }).click();
    const properties = page.getByRole("table", { name: "Properties" });
    await properties.getByRole("row", { name: /vip/ }).waitFor();
    // A time's text depends on the browser's locale; its datetime attribute does not.
    const rows = await properties
      .locator("tbody tr")
      .evaluateAll((trs) =>
        trs.map((tr) =>
          [...tr.querySelectorAll("td")].map((td) => td.querySelector("time")?.dateTime ?? td.textContent),
        ),
      );
    expect(rows).toEqual([
      ["country", "string", "FR"],
      ["last_seen", "timestamp", "2026-06-01T18:30:00.000Z"],
      ["level", "number", "12"],
      ["vip", "bool", "true"],
    ]);
    await page.screenshot({ path: `${SCREENSHOTS}/player-detail.png`, fullPage: true });
    await context.close();
  });

  it("shows an expression's error under it as it is typed, then the live count, and saves the audience", async () => {
    const { context, page } = await signedIn(server.keys.admin);
    await page.getByRole("link", { name: "Audiences" }).click();
    await page.getByRole("cell", { name: "No audiences." }).waitFor();
    await page.getByRole("button", { name: "Create audience" }).click();
    await page.getByLabel("Name", { exact: true }).fill("fr-players");
    await page.getByLabel("Description").fill("Players in France");

    const expression = page.getByLabel("Expression (CEL)");
    await expression.fill("player.properties.country ==");
    await expect.poll(() => fieldError(page, "Expression (CEL)").textContent()).toMatch(/^1:\d+: \S/);
    expect(await expression.getAttribute("aria-invalid")).toBe("true");
    await page.screenshot({ path: `${SCREENSHOTS}/audience-expression-error.png`, fullPage: true });

    // q-dave (and any other player) without a level fails its evaluation, and the preview says so.
    const total = stored.length;
    await expression.fill("player.properties.level >= 10.0");
    await expect
      .poll(() => page.getByTestId("preview-count").textContent())
      .toBe(`${countOf((p) => (numberOf(p, "level") ?? 0) >= 10)} of ${total} players match`);
    await expectFailures(page, countOf(lacks("level")));
    expect(await fieldError(page, "Expression (CEL)").count()).toBe(0);

    await expression.fill('player.properties.country == "FR"');
    await expect
      .poll(() => page.getByTestId("preview-count").textContent())
      .toBe(`${countOf(inFrance)} of ${total} players match`);
    await page.getByLabel("Never include (player ids)").fill("q-dave");
    await expect
      .poll(() => page.getByTestId("preview-count").textContent())
      .toBe(`${countOf((p) => inFrance(p) && p.id !== "q-dave")} of ${total} players match`);
    await expectFailures(
      page,
      countOf((p) => lacks("country")(p) && p.id !== "q-dave"),
    );
    await page.screenshot({ path: `${SCREENSHOTS}/audience-editor.png`, fullPage: true });

    await page.getByRole("button", { name: "Create audience" }).click();
    const row = page.getByRole("row", { name: /fr-players/ });
    await row.waitFor();
    expect(await row.textContent()).toContain("0 included, 1 excluded");
    await page.screenshot({ path: `${SCREENSHOTS}/audiences.png`, fullPage: true });
    await context.close();
  });

  it("targets the audience from the event form, shows it on the event, and keeps it from being deleted while named", async () => {
    const { context, page } = await signedIn(server.keys.operator);
    await page.getByRole("link", { name: "Events" }).click();
    await page.getByRole("button", { name: "New event" }).click();
    await page.getByLabel("Title").fill("French Cup");
    await page.getByLabel("Start date").fill("2026-06-02");
    await page.getByLabel("Start time").fill("10:00");
    await page.getByLabel("End date").fill("2026-06-02");
    await page.getByLabel("End time").fill("12:00");
    await page.getByRole("group", { name: "For audiences" }).getByLabel("fr-players").check();
    await page.screenshot({ path: `${SCREENSHOTS}/event-form-audiences.png`, fullPage: true });
    await page.getByRole("button", { name: "Create event" }).click();
    const row = page.getByRole("row", { name: /French Cup/ });
    await row.waitFor();
    expect(await row.locator(".event-audiences").textContent()).toBe("For fr-players");
    await page.screenshot({ path: `${SCREENSHOTS}/events-audiences.png`, fullPage: true });

    // An edit on the event's page that moves the audience to the excluded ones sends both lists in its update mask.
    await row.getByRole("link", { name: "French Cup" }).click();
    await page.getByRole("button", { name: "Edit" }).click();
    const forAudience = page.getByRole("group", { name: "For audiences" }).getByLabel("fr-players");
    expect(await forAudience.isChecked()).toBe(true);
    await forAudience.uncheck();
    await page.getByRole("group", { name: "Excluded audiences" }).getByLabel("fr-players").check();
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByRole("button", { name: "Edit" }).waitFor();
    const notFor = page.locator("dt", { hasText: "Not for" }).locator("xpath=following-sibling::dd[1]");
    await expect.poll(() => notFor.textContent()).toContain("fr-players");

    await page.getByRole("link", { name: "Audiences" }).click();
    const audience = page.getByRole("row", { name: /fr-players/ });
    await audience.getByRole("button", { name: "Delete" }).click();
    await audience.getByText("Delete the audience “fr-players”?").waitFor();
    await audience.getByRole("button", { name: "Yes, delete" }).click();
    await expect.poll(() => audience.getByRole("alert").textContent()).toContain("fr-players");
    await page.screenshot({ path: `${SCREENSHOTS}/audience-in-use.png`, fullPage: true });
    expect(await page.getByRole("row", { name: /fr-players/ }).count()).toBe(1);
    await context.close();
  });

  it("shows neither players nor audiences to a viewer key", async () => {
    const { context, page } = await signedIn(server.keys.viewer);
    expect(await page.getByRole("link", { name: "Players" }).count()).toBe(0);
    expect(await page.getByRole("link", { name: "Audiences" }).count()).toBe(0);
    await page.goto(`${server.baseUrl}/#/audiences`);
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await context.close();
  });
});
