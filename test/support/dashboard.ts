import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { build } from "vite";
import { startTestServer, type TestServer } from "./server.js";
import { commandRuns, skipWithoutTool } from "./system-tools.js";

/** Debian's Chromium, which the dashboard's end-to-end tests drive (playwright-core downloads nothing). */
export const CHROMIUM = "/usr/bin/chromium";
/** Where the end-to-end tests save their screenshots. */
export const SCREENSHOTS = "test-results/dashboard";

/**
 * Whether the `tests` can run, for `describe.skipIf(!chromiumFor(…))`: true when Chromium is here; without it,
 * false after a warning naming what to install — and with `CI=true` it throws instead (see skipWithoutTool).
 */
export function chromiumFor(tests: string): boolean {
  const chromiumTool = { name: CHROMIUM, present: commandRuns(CHROMIUM), install: "apt-get install chromium" };
  return !skipWithoutTool(chromiumTool, tests);
}

/** A real server serving a fresh build of the dashboard, and a headless Chromium. */
export interface DashboardHarness {
  server: TestServer;
  browser: Browser;
  /** Opens the dashboard in a new context and signs in with `key`; `prepare` sees the context first. */
  signIn(key: string, prepare?: (context: BrowserContext) => void): Promise<{ context: BrowserContext; page: Page }>;
  close(): Promise<void>;
}

/** Every file under `dir`, sorted (for a content hash). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]))
    .sort();
}

/**
 * The dashboard built from the sources as they are now. A build takes 10–20 s, so it is kept under
 * node_modules/.cache, named by a hash of everything it can import (web/, gen/, src/, the lock file), and every
 * end-to-end file of a run shares it. Two files building at once both build, and the first rename wins.
 */
async function builtDashboard(): Promise<string> {
  const hash = createHash("sha256");
  for (const file of [...filesUnder("web"), ...filesUnder("gen"), ...filesUnder("src"), "package-lock.json"]) {
    hash.update(file).update(readFileSync(file));
  }
  const cache = join("node_modules", ".cache", "liveops-dashboard");
  const dir = join(cache, hash.digest("hex").slice(0, 16));
  if (existsSync(join(dir, "index.html"))) return dir;
  mkdirSync(cache, { recursive: true });
  // Builds of older sources are not needed again (a server reads its files into memory when it starts).
  for (const old of readdirSync(cache)) {
    if (!old.startsWith("building-")) rmSync(join(cache, old), { recursive: true, force: true });
  }
  const building = mkdtempSync(join(cache, "building-"));
  await build({
    configFile: "web/vite.config.ts",
    logLevel: "warn",
    build: { outDir: resolve(building), emptyOutDir: true },
  });
  try {
    renameSync(building, dir);
  } catch {
    rmSync(building, { recursive: true, force: true });
  }
  return dir;
}

/** Builds the dashboard (or finds it built), starts a test server serving it, and launches Chromium. */
export async function startDashboard(): Promise<DashboardHarness> {
  const webDir = await builtDashboard();
  const server = await startTestServer({ DASHBOARD_DIR: webDir });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    server,
    browser,
    async signIn(key, prepare) {
      const context = await browser.newContext({ timezoneId: "UTC", viewport: { width: 1280, height: 900 } });
      prepare?.(context);
      const page = await context.newPage();
      await page.goto(server.baseUrl);
      await page.getByLabel("API key").fill(key);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByText("● Live updates").waitFor();
      return { context, page };
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/** axe-core's browser bundle, injected into pages by {@link accessibilityViolations}. */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * The WCAG 2.1 A and AA violations axe-core finds on the page as it is now, one line each (rule, impact, the first
 * offending elements), so a failing expectation names what to fix.
 */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  // Evaluated rather than added as a <script>: the dashboard's CSP refuses inline scripts, and rightly so.
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (context: unknown, options: unknown) => Promise<AxeResults> } })
      .axe;
    interface AxeResults {
      violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[];
    }
    const results = await axe.run((globalThis as unknown as { document: unknown }).document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    return results.violations.map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} — ${v.nodes
          .slice(0, 3)
          .map((n) => n.target.join(" "))
          .join(", ")}`,
    );
  });
  return violations;
}

/**
 * Saves a full-page screenshot of the page as `<name>.png` under {@link SCREENSHOTS}. With
 * `LIVEOPS_UPDATE_PICTURES=1` (`npm run pictures`), a screenshot the README shows as `docs/dashboard-<name>.png` is
 * also written there, so the README's pictures are refreshed from the tests that check what they show.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const image = await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const picture = `docs/dashboard-${name}.png`;
  if (process.env.LIVEOPS_UPDATE_PICTURES === "1" && readFileSync("README.md", "utf8").includes(`(${picture})`)) {
    mkdirSync("docs", { recursive: true });
    writeFileSync(picture, image);
  }
}

/** The views an admin reaches from the navigation, and the page of the event `eventId`. */
export const adminRoutes = (eventId: string) => [
  "/overview",
  "/events",
  "/calendar",
  `/events/${eventId}`,
  "/players",
  "/audiences",
  "/keys",
  "/audit",
];

/** Opens the view at `route` (the hash) and waits until it has settled: its title shown, no loading state left. */
export async function openView(page: Page, route: string): Promise<void> {
  await page.evaluate((hash) => {
    (globalThis as unknown as { location: { hash: string } }).location.hash = hash;
  }, route);
  await page.getByRole("heading", { level: 2 }).first().waitFor();
  await page.waitForFunction(() => {
    const doc = (globalThis as unknown as { document: { body: { innerText: string } } }).document;
    return !/Loading [^\n]*…/.test(doc.body.innerText);
  });
}
