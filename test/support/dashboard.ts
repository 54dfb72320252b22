import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { build } from "vite";
import { startTestServer, type TestServer } from "./server.js";

/** Debian's Chromium, which the dashboard's end-to-end tests drive (playwright-core downloads nothing). */
export const CHROMIUM = "/usr/bin/chromium";
/** Where the end-to-end tests save their screenshots. */
export const SCREENSHOTS = "test-results/dashboard";

/** Whether Chromium is here; when it is not, says on stderr which `tests` are skipped and what to install. */
export function chromiumFor(tests: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  console.warn(`${tests} skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`);
  return false;
}

/** A real server serving a fresh build of the dashboard, and a headless Chromium. */
export interface DashboardHarness {
  server: TestServer;
  browser: Browser;
  /** Opens the dashboard in a new context and signs in with `key`; `prepare` sees the context first. */
  signIn(key: string, prepare?: (context: BrowserContext) => void): Promise<{ context: BrowserContext; page: Page }>;
  close(): Promise<void>;
}

/** Builds the dashboard into a temporary folder, starts a test server serving it, and launches Chromium. */
export async function startDashboard(): Promise<DashboardHarness> {
  const webDir = mkdtempSync(join(tmpdir(), "liveops-web-"));
  await build({ configFile: "web/vite.config.ts", logLevel: "warn", build: { outDir: webDir, emptyOutDir: true } });
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
      rmSync(webDir, { recursive: true, force: true });
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
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.addScriptTag({ content: AXE_SOURCE });
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

/** Saves a full-page screenshot of the page as `<name>.png` under {@link SCREENSHOTS}. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
