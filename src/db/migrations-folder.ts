import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Dialect } from "./storage.js";

/**
 * The folder of a dialect's migrations (drizzle/sqlite/ or drizzle/postgres/, made by drizzle-kit). Found by walking
 * up from this file, so it is the same whether the code runs from src/ (tests) or from dist/src/ (npm start).
 */
export function migrationsFolder(dialect: Dialect): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "drizzle", dialect);
    if (existsSync(join(candidate, "meta", "_journal.json"))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`the drizzle/${dialect}/ migrations folder was not found`);
    dir = parent;
  }
}
