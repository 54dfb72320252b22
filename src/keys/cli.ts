import { parseArgs } from "node:util";
import { type Role, roles } from "../auth/roles.js";
import { systemClock } from "../clock.js";
import { ConfigError, loadConfig } from "../config.js";
import { openDatabase } from "../db/database.js";
import { createKeyStore } from "./key-store.js";

const usage = `usage: npm run keys -- create --role <${roles.join("|")}> --name <name> [--expires-in-days N]

Creates an API key in the database at DB_PATH (default ./data/liveops.db) and prints it once.`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${usage}\n`);
  process.exit(2);
}

function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      role: { type: "string" },
      name: { type: "string" },
      "expires-in-days": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const [command] = positionals;
  if (command !== "create") fail(command ? `unknown command "${command}"` : "a command is required");
  const role = values.role as Role | undefined;
  if (!role || !roles.includes(role)) fail(`--role must be one of ${roles.join(", ")}`);
  const name = values.name?.trim();
  if (!name || name.length > 100) fail("--name is required (1 to 100 characters)");
  let expireTime: number | undefined;
  if (values["expires-in-days"] !== undefined) {
    const days = Number(values["expires-in-days"]);
    if (!Number.isInteger(days) || days < 1 || days > 3650)
      fail("--expires-in-days must be a whole number from 1 to 3650");
    expireTime = systemClock.now() + days * 86_400_000;
  }

  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const database = openDatabase(config.dbPath, { synchronous: config.dbSynchronous });
  try {
    const { row, key } = createKeyStore(database.db).createKey({ name, role, now: systemClock.now(), expireTime });
    process.stderr.write(`created ${row.role} key "${row.name}" (id ${row.id}); it is shown only once:\n`);
    process.stdout.write(`${key}\n`);
  } finally {
    database.close();
  }
}

main();
