import { defineConfig } from "drizzle-kit";

/** The PostgreSQL migrations: `drizzle-kit generate --config drizzle-postgres.config.ts` (see drizzle.config.ts). */
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/db/postgres-schema.ts",
  out: "./drizzle/postgres",
});
