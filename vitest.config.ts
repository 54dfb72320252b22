import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "web/test/**/*.test.tsx"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Servers run in the test process; forks keep each file's sockets and databases apart.
    pool: "forks",
  },
});
