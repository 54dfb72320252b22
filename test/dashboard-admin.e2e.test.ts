import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Role } from "../gen/liveops/v1/api_key_pb.js";
import { ApiKeyService } from "../gen/liveops/v1/api_key_service_pb.js";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import { SessionService } from "../gen/liveops/v1/session_service_pb.js";
import { bearer, codeOf, connectClients } from "./support/clients.js";
import {
  accessibilityViolations,
  chromiumFor,
  type DashboardHarness,
  screenshot,
  startDashboard,
} from "./support/dashboard.js";
import type { TestServer } from "./support/server.js";

// Each test signs in a browser of its own and walks a flow: slower than one call on two busy cores.
vi.setConfig({ testTimeout: 90_000 });

const hasChromium = chromiumFor("dashboard keys and audit log end-to-end tests");

const DAY = 86_400_000;
/** A description longer than the audit log shows before "Show all". */
const LONG_DESCRIPTION = `The spring season's finals: ${"every player who reached the top hundred plays again. ".repeat(4)}`;

let dashboard: DashboardHarness;
let server: TestServer;
/** What the seeding made: key secrets and ids by name, event ids by title. */
const secrets: Record<string, string> = {};
const keyIds: Record<string, string> = {};
const eventIds: Record<string, string> = {};
/** The server's clock when the seeding started (its test clock: 2026-06-01T12:00Z); later changes are a day on. */
let seededAt: number;

const transportOf = (key: string) =>
  createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] });

/** Whether a key's secret is accepted now. */
const accepted = (secret: string) => codeOf(createClient(SessionService, transportOf(secret)).getSession({}));

/**
 * Keys to rotate, to revoke and to sign in with; a second admin that makes changes of its own; events made, updated
 * a day later (title, description) and deleted through the API.
 */
async function seed() {
  seededAt = server.clock.now();
  const keys = createClient(ApiKeyService, transportOf(server.keys.admin));
  for (const [name, role] of [
    ["Release pipeline", Role.OPERATOR],
    ["Old integration", Role.VIEWER],
    ["Ops console", Role.ADMIN],
    ["Audit helper", Role.ADMIN],
  ] as const) {
    const made = await keys.createApiKey({ name, role });
    secrets[name] = made.secret;
    keyIds[name] = made.apiKey?.id ?? "";
  }
  const { admin } = connectClients(server.baseUrl, server.keys.admin);
  const event = (title: string) => ({
    title,
    startTime: timestampFromMs(seededAt + DAY * 10),
    endTime: timestampFromMs(seededAt + DAY * 11),
  });
  eventIds["Spring Cup"] = (await admin.createEvent({ event: event("Spring Cup") })).event?.id ?? "";
  eventIds["Winter Cup"] = (await admin.createEvent({ event: event("Winter Cup") })).event?.id ?? "";
  await admin.deleteEvent({ id: eventIds["Winter Cup"] ?? "" });
  const helper = connectClients(server.baseUrl, secrets["Audit helper"]);
  eventIds["Autumn Cup"] = (await helper.admin.createEvent({ event: event("Autumn Cup") })).event?.id ?? "";
  await createClient(AudienceService, transportOf(secrets["Audit helper"] ?? "")).createAudience({
    audience: { name: "whales", expression: "true" },
  });
  server.clock.advance(DAY);
  await admin.updateEvent({
    event: { id: eventIds["Spring Cup"], title: "Spring Cup Finals", description: LONG_DESCRIPTION },
    updateMask: { paths: ["title", "description"] },
  });
}

/** Signs in with `key` and opens a view from the navigation. */
async function openAs(key: string, link: "API keys" | "Audit log") {
  const signedIn = await dashboard.signIn(key);
  await signedIn.page.getByRole("link", { name: link }).click();
  await signedIn.page.getByRole("heading", { name: link, level: 2 }).waitFor();
  return signedIn;
}

/** The table row of the key named `name`. */
const keyRow = (page: Page, name: string) =>
  page.locator("tr[data-key-id]", { has: page.getByRole("rowheader", { name: new RegExp(`^${name}`) }) });

/** The text of a key row's cell under `column`. */
async function cellOf(row: Locator, column: string): Promise<string> {
  const headers = await row.page().locator("table.keys-table thead th").allTextContents();
  return (await row.locator("th, td").nth(headers.indexOf(column)).textContent()) ?? "";
}

/** The error shown under the input labelled `label`. */
const fieldError = (scope: Page | Locator, label: string) =>
  scope.locator(".field", { has: scope.getByLabel(label, { exact: true }) }).locator(".field-error");

/** Whether the page is wider than its viewport (it must not be: wide tables scroll inside .table-wrap). */
const overflows = (page: Page) =>
  page.evaluate<boolean>("document.documentElement.scrollWidth > document.documentElement.clientWidth");

/** A `datetime-local` value in UTC (the browser's zone in these tests). */
const utcInput = (ms: number) => new Date(ms).toISOString().slice(0, 16);

/** What the audit log shows now: one item per entry. */
async function shownEntries(page: Page) {
  await page.locator(".audit-entries").waitFor();
  return await page.locator("li.audit-entry").evaluateAll((items) =>
    items.map((li) => ({
      method: li.getAttribute("data-method"),
      targetType: li.getAttribute("data-target-type"),
      targetId: li.getAttribute("data-target-id"),
      actorId: li.getAttribute("data-actor-id"),
      text: li.textContent ?? "",
    })),
  );
}

/** The entries once the list shows `count` of them (filters apply asynchronously). */
async function entriesWhen(page: Page, predicate: (entries: Awaited<ReturnType<typeof shownEntries>>) => boolean) {
  await expect.poll(async () => predicate(await shownEntries(page))).toBe(true);
  return await shownEntries(page);
}

describe.skipIf(!hasChromium)("API keys and the audit log in the dashboard (Chromium)", () => {
  beforeAll(async () => {
    dashboard = await startDashboard();
    server = dashboard.server;
    await seed();
  }, 240_000);
  afterAll(() => dashboard?.close());

  describe("API keys", () => {
    it("creates a key with an expiry and a rate limit, shows its secret once, and lists both limits", async () => {
      const { context, page } = await openAs(server.keys.admin, "API keys");
      await page.getByLabel("Name", { exact: true }).fill("Season bot");
      await page.getByLabel("Role", { exact: true }).selectOption({ label: "operator" });
      await page.getByLabel("Expires at a date and time").check();
      await page.getByLabel("Expires at (UTC time)").fill(utcInput(Date.now() + 3 * DAY + 3_600_000));
      await page.getByLabel("Its own limit").check();
      await page.getByLabel("Requests per second").fill("20");
      await page.getByLabel("Burst").fill("40");
      await page.getByRole("button", { name: "Create key" }).click();

      const secret = await page.getByTestId("new-secret").textContent();
      expect(secret).toMatch(/^lo_[0-9a-f]{16}_/);
      expect(await page.getByText("it will not be shown again").count()).toBe(1);
      expect(await accepted(secret ?? "")).toBe("ok");
      const row = keyRow(page, "Season bot");
      await row.waitFor();
      expect(await cellOf(row, "Expiry")).toBe("expires in 3 days");
      expect(await cellOf(row, "Rate limit")).toBe("20 req/s, burst 40");
      expect(await cellOf(row, "Role")).toBe("operator");
      expect(await cellOf(row, "State")).toBe("active");
      expect(await cellOf(keyRow(page, "Release pipeline"), "Rate limit")).toBe("default for the role");
      expect(await cellOf(keyRow(page, "Release pipeline"), "Expiry")).toBe("never");

      await page.getByRole("button", { name: "I have copied it" }).click();
      expect(await page.getByTestId("new-secret").count()).toBe(0);
      await context.close();
    });

    it("puts each refused input's error under it, in words, and creates nothing", async () => {
      const { context, page } = await openAs(server.keys.admin, "API keys");
      // The table is counted once it has loaded (the admin's own key is always in it).
      await page.locator("tr[data-key-id]").first().waitFor();
      const before = await page.locator("tr[data-key-id]").count();
      await page.getByLabel("Its own limit").check();
      await page.getByLabel("Requests per second").fill("50");
      await page.getByLabel("Burst").fill("10");
      await page.getByRole("button", { name: "Create key" }).click();
      expect(await fieldError(page, "Name").textContent()).toBe("Give the key a name: who or what will use it.");
      expect(await fieldError(page, "Burst").textContent()).toBe(
        "Enter a whole number from the requests per second (50) to 1,000,000.",
      );
      expect(await fieldError(page, "Requests per second").count()).toBe(0);
      expect(await page.getByTestId("new-secret").count()).toBe(0);
      expect(await page.locator("tr[data-key-id]").count()).toBe(before);
      await context.close();
    });

    it("edits a key's rate limit, and returns it to the role's default", async () => {
      const { context, page } = await openAs(server.keys.admin, "API keys");
      const row = keyRow(page, "Release pipeline");
      await row.getByRole("button", { name: "Edit Release pipeline" }).click();
      const dialog = page.getByRole("dialog", { name: "Edit “Release pipeline”" });
      await dialog.getByLabel("Its own limit").check();
      await dialog.getByLabel("Requests per second").fill("5");
      await dialog.getByLabel("Burst").fill("10");
      await dialog.getByRole("button", { name: "Save changes" }).click();
      await expect.poll(() => cellOf(row, "Rate limit")).toBe("5 req/s, burst 10");
      expect(await dialog.count()).toBe(0);

      await row.getByRole("button", { name: "Edit Release pipeline" }).click();
      await dialog.getByLabel("Default for the role").check();
      await dialog.getByRole("button", { name: "Save changes" }).click();
      await expect.poll(() => cellOf(row, "Rate limit")).toBe("default for the role");
      await context.close();
    });

    it("rotates a key after saying the old secret keeps working for the grace period, and both secrets work", async () => {
      const { context, page } = await openAs(server.keys.admin, "API keys");
      const row = keyRow(page, "Release pipeline");
      expect(await cellOf(row, "Rotation")).toBe("never rotated");
      await row.getByRole("button", { name: "Rotate Release pipeline" }).click();
      const dialog = page.getByRole("dialog", { name: "Rotate “Release pipeline”?" });
      await dialog.getByLabel("The old secret keeps working for").selectOption({ label: "1 day" });
      expect(await dialog.getByTestId("rotate-consequence").textContent()).toMatch(
        /^The old secret keeps working for the grace period, until .+, then stops/,
      );
      await dialog.getByRole("button", { name: "Rotate secret" }).click();

      const secret = (await page.getByTestId("new-secret").textContent()) ?? "";
      expect(secret).not.toBe(secrets["Release pipeline"]);
      expect(await accepted(secret)).toBe("ok");
      expect(await accepted(secrets["Release pipeline"] ?? "")).toBe("ok");
      await expect.poll(() => cellOf(row, "Rotation")).toMatch(/^rotated .+; old secret works until .+/);
      await context.close();
    });

    it("revokes a key after saying it stops working at once; the table shows it revoked", async () => {
      const { context, page } = await openAs(server.keys.admin, "API keys");
      const row = keyRow(page, "Old integration");
      expect(await accepted(secrets["Old integration"] ?? "")).toBe("ok");
      await row.getByRole("button", { name: "Revoke Old integration" }).click();
      const dialog = page.getByRole("dialog", { name: "Revoke “Old integration”?" });
      expect(await dialog.textContent()).toContain("The key stops working at once");
      expect(await dialog.getByTestId("revoke-own-key-warning").count()).toBe(0);
      await dialog.getByRole("button", { name: "Revoke key" }).click();
      await expect.poll(() => cellOf(row, "State")).toBe("revoked");
      expect(await row.getByRole("button").count()).toBe(0);
      expect(await accepted(secrets["Old integration"] ?? "")).toBe(Code.Unauthenticated);
      await context.close();
    });

    it("warns before revoking the key in use that the dashboard will be signed out, then signs out", async () => {
      const { context, page } = await openAs(secrets["Ops console"] ?? "", "API keys");
      const row = keyRow(page, "Ops console");
      await row.waitFor(); // the heading shows before the keys arrive, and count() does not wait
      expect(await row.getByText("signed in").count()).toBe(1);
      await row.getByRole("button", { name: "Revoke Ops console" }).click();
      const dialog = page.getByRole("dialog", { name: "Revoke “Ops console”, the key you are signed in with?" });
      expect(await dialog.getByTestId("revoke-own-key-warning").textContent()).toContain(
        "Revoking it signs the dashboard out at once",
      );
      expect(await accessibilityViolations(page)).toEqual([]);
      await screenshot(page, "revoke-own-key-dialog");
      await dialog.getByRole("button", { name: "Revoke and sign out" }).click();

      await page.getByRole("button", { name: "Sign in" }).waitFor();
      expect(await page.evaluate<number>("sessionStorage.length")).toBe(0);
      expect(await accepted(secrets["Ops console"] ?? "")).toBe(Code.Unauthenticated);
      await context.close();
    });

    it("passes axe and fits a 390 px wide screen", async () => {
      const { context, page } = await openAs(server.keys.admin, "API keys");
      await keyRow(page, "Release pipeline").waitFor();
      expect(await accessibilityViolations(page)).toEqual([]);
      await screenshot(page, "keys");
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await overflows(page)).toBe(false);
      expect(await accessibilityViolations(page)).toEqual([]);
      await screenshot(page, "keys-390");
      await context.close();
    });
  });

  describe("the audit log", () => {
    it("names actors, keys and events instead of showing their ids", async () => {
      const { context, page } = await openAs(server.keys.admin, "Audit log");
      const entries = await shownEntries(page);
      const update = entries.find((e) => e.method === "UpdateEvent" && e.targetId === eventIds["Spring Cup"]);
      expect(update?.text).toMatch(/^Updated event “Spring Cup Finals”by test-admin · /);
      const created = entries.find((e) => e.method === "CreateApiKey" && e.targetId === keyIds["Release pipeline"]);
      expect(created?.text).toMatch(/^Created key “Release pipeline”by test-admin · /);
      const byHelper = entries.find((e) => e.method === "CreateEvent" && e.targetId === eventIds["Autumn Cup"]);
      expect(byHelper?.text).toMatch(/^Created event “Autumn Cup”by Audit helper · /);
      const deleted = entries.find((e) => e.method === "DeleteEvent");
      expect(deleted?.text).toMatch(/^Deleted event “Winter Cup” \(deleted\)by test-admin · /);
      for (const entry of [update, created, byHelper]) {
        expect(entry?.text).not.toContain(entry?.targetId);
        expect(entry?.text).not.toContain(entry?.actorId);
      }
      await context.close();
    });

    it("shows an event update's old and new value of each changed field, a long value cut until asked", async () => {
      const { context, page } = await openAs(server.keys.admin, "Audit log");
      const entry = page.locator(`li[data-method="UpdateEvent"][data-target-id="${eventIds["Spring Cup"]}"]`);
      const fields = await entry
        .locator(".audit-change")
        .evaluateAll((changes) =>
          changes.map((c) => [c.querySelector("dt")?.textContent, c.querySelector(".audit-before")?.textContent]),
        );
      expect(fields).toEqual([
        ["Title", "before: Spring Cup"],
        ["Description", "before: (empty)"],
      ]);
      const title = entry.locator('.audit-change[data-field="title"] dd');
      expect(await title.textContent()).toBe("before: Spring Cup → after: Spring Cup Finals");
      const description = entry.locator('.audit-change[data-field="description"] .audit-after');
      expect(await description.textContent()).not.toContain(LONG_DESCRIPTION);
      await description.getByRole("button", { name: /^Show all \d+ characters$/ }).click();
      expect(await description.textContent()).toContain(LONG_DESCRIPTION);
      await context.close();
    });

    it("narrows the list to one actor, and keeps the filter in the address", async () => {
      const { context, page } = await openAs(server.keys.admin, "Audit log");
      const all = await shownEntries(page);
      await page.getByLabel("Actor").selectOption({ label: "Audit helper (admin)" });
      const entries = await entriesWhen(page, (shown) => shown.length < all.length);
      expect(entries.map((e) => e.method).sort()).toEqual(["CreateAudience", "CreateEvent"]);
      expect(entries.every((e) => e.text.includes("by Audit helper"))).toBe(true);
      expect(await page.evaluate<string>("location.hash")).toBe(`#/audit?actor=${keyIds["Audit helper"]}`);
      await context.close();
    });

    it("narrows the list to one action, chosen by its words", async () => {
      const { context, page } = await openAs(server.keys.admin, "Audit log");
      await page.getByLabel("Action").selectOption({ label: "Revoked key" });
      const entries = await entriesWhen(page, (shown) => shown.every((e) => e.method === "RevokeApiKey"));
      expect(entries.map((e) => e.targetId).sort()).toEqual([keyIds["Old integration"], keyIds["Ops console"]].sort());
      expect(entries.every((e) => e.text.startsWith("Revoked key “"))).toBe(true);
      await context.close();
    });

    it("narrows the list to a target type, then to one target", async () => {
      const { context, page } = await openAs(server.keys.admin, "Audit log");
      await page.getByLabel("Target type").selectOption({ label: "Audiences" });
      const audiences = await entriesWhen(page, (shown) => shown.every((e) => e.targetType === "audience"));
      expect(audiences.map((e) => e.text.slice(0, e.text.indexOf("by ")))).toEqual(["Created audience “whales”"]);

      await page.getByRole("button", { name: "Clear filters" }).click();
      await page.getByLabel("Target id").fill(eventIds["Spring Cup"] ?? "");
      await page.getByRole("button", { name: "Apply" }).click();
      const spring = await entriesWhen(page, (shown) => shown.every((e) => e.targetId === eventIds["Spring Cup"]));
      expect(spring.map((e) => e.method)).toEqual(["UpdateEvent", "CreateEvent"]);
      await context.close();
    });

    it("narrows the list to a time range, refusing an end before the start on the end's input", async () => {
      const { context, page } = await openAs(server.keys.admin, "Audit log");
      const midnight = Math.floor(seededAt / DAY) * DAY + DAY;
      await page.getByLabel("From (UTC time)").fill(utcInput(midnight));
      await page.getByLabel("Until (UTC time)").fill(utcInput(midnight - DAY));
      await page.getByRole("button", { name: "Apply" }).click();
      expect(await fieldError(page, "Until (UTC time)").textContent()).toBe("Must be after the start of the range.");

      await page.getByLabel("Until (UTC time)").fill("");
      await page.getByRole("button", { name: "Apply" }).click();
      const later = await entriesWhen(page, (shown) => !shown.some((e) => e.method === "CreateEvent"));
      expect(later.some((e) => e.method === "UpdateEvent")).toBe(true);

      await page.getByLabel("From (UTC time)").fill("");
      await page.getByLabel("Until (UTC time)").fill(utcInput(midnight));
      await page.getByRole("button", { name: "Apply" }).click();
      const earlier = await entriesWhen(page, (shown) => !shown.some((e) => e.method === "UpdateEvent"));
      expect(earlier.filter((e) => e.method === "CreateEvent")).toHaveLength(3);
      await context.close();
    });

    it("opens with the filters of its address", async () => {
      const { context, page } = await dashboard.signIn(server.keys.admin);
      await page.goto(`${server.baseUrl}/#/audit?action=UpdateEvent&type=event`);
      await page.getByRole("heading", { name: "Audit log", level: 2 }).waitFor();
      expect(await page.getByLabel("Action").inputValue()).toBe("UpdateEvent");
      const entries = await entriesWhen(page, (shown) => shown.length > 0);
      expect(entries.every((e) => e.method === "UpdateEvent" && e.targetType === "event")).toBe(true);
      await context.close();
    });

    it("passes axe and fits a 390 px wide screen", async () => {
      const { context, page } = await openAs(server.keys.admin, "Audit log");
      await page.locator("li.audit-entry").first().waitFor();
      expect(await accessibilityViolations(page)).toEqual([]);
      await screenshot(page, "audit");
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await overflows(page)).toBe(false);
      expect(await accessibilityViolations(page)).toEqual([]);
      await screenshot(page, "audit-390");
      await context.close();
    });
  });
});
