import { defineConfig, type TestProjectInlineConfiguration } from "vitest/config";

/** Test files that run once per storage backend: everything that reaches the server and its stores. */
const onEveryBackend = ["test/**/*.test.ts"];
/** Test files that do not touch storage (the dashboard's components, in happy-dom): the sqlite project only. */
const onSqliteOnly = ["web/test/**/*.test.tsx"];

/**
 * Backends to test, comma-separated: LIVEOPS_TEST_BACKENDS=sqlite,postgres. The default is sqlite alone only until
 * the server runs on PostgreSQL; then the postgres project becomes part of the default (and of CI).
 */
const backends = (process.env.LIVEOPS_TEST_BACKENDS ?? "sqlite").split(",").map((name) => name.trim());

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
    test: { ...shared, name: "postgres", include: onEveryBackend, env: { LIVEOPS_TEST_BACKEND: "postgres" } },
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
