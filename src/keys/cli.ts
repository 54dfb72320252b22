import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { ApiKeyService } from "../../gen/liveops/v1/api_key_service_pb.js";
import type { AuditActor } from "../audit/audit-log.js";
import { type ApiKeyRole, apiKeyRoles, methodPath } from "../auth/roles.js";
import { systemClock } from "../clock.js";
import { ConfigError, loadConfig } from "../config.js";
import { databaseReached, openStorage } from "../db/open-storage.js";
import type { FieldViolation } from "../errors.js";
import { KEY_ID_FORMAT } from "./api-key.js";
import { keyStateAt } from "./api-key-record.js";
import { type ApiKeyRow, createKeyStore, type KeyStore } from "./key-store.js";
import { checkKeyName, checkRateLimit, ROTATION_GRACE_MAX_MS } from "./key-validation.js";

const usage = `usage: npm run keys -- <command> [options]

  create --role <${apiKeyRoles.join("|")}> --name <name> [--expires-in-days N] [--rate <per second>/<burst>]
                          create a key and print it once
  list                    list every key (never a secret)
  revoke <id>             revoke a key: its next request is refused
  rotate <id> [--grace-hours N]
                          print a new secret for the key; the old one works N more hours (default 0)

Works on the database at DB_PATH (default ./data/liveops.db), also while the server runs.
Every change is written to the audit log with the actor "cli".`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${usage}\n`);
  process.exit(2);
}

function failOnViolations(violations: FieldViolation[]) {
  if (violations.length > 0) fail(violations.map((v) => `${v.field}: ${v.description}`).join("\n"));
}

const actorFor = (method: keyof typeof ApiKeyService.method): AuditActor => ({
  actorKeyId: "cli",
  method: methodPath(ApiKeyService.method[method]),
  requestId: randomUUID(),
});

const iso = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString());
const STATES = ["", "active", "expired", "revoked"];

function describe(row: ApiKeyRow, now: number): string {
  const limit = row.rateLimitPerSecond === null ? "role default" : `${row.rateLimitPerSecond}/${row.rateLimitBurst}`;
  return [
    row.id,
    row.role.padEnd(11),
    (STATES[keyStateAt(row, now)] ?? "").padEnd(7),
    `created ${iso(row.createTime)}`,
    `last used ${iso(row.lastUsedTime)}`,
    `expires ${iso(row.expireTime)}`,
    `rate ${limit}`,
    JSON.stringify(row.name),
  ].join("  ");
}

/**
 * A number written in plain decimal digits (`Number` alone also takes `1e3`, `0x10`, ` 5 ` and `Infinity`), or
 * undefined.
 */
function decimal(text: string | boolean | undefined, fraction: boolean): number | undefined {
  const form = fraction ? /^\d{1,9}(\.\d{1,9})?$/ : /^\d{1,9}$/;
  return typeof text === "string" && form.test(text) ? Number(text) : undefined;
}

function keyIdArgument(positionals: string[]): string {
  const id = positionals[1];
  if (!id || !KEY_ID_FORMAT.test(id)) fail("a key id (16 hex characters, as in `list`) is required");
  return id;
}

async function run(
  keys: KeyStore,
  positionals: string[],
  values: Record<string, string | boolean | undefined>,
): Promise<void> {
  const now = systemClock.now();
  const command = positionals[0];
  switch (command) {
    case "create": {
      const role = values.role as ApiKeyRole | undefined;
      if (!role || !apiKeyRoles.includes(role)) fail(`--role must be one of ${apiKeyRoles.join(", ")}`);
      const name = String(values.name ?? "").trim();
      failOnViolations(checkKeyName(name, "--name"));
      let expireTime: number | undefined;
      if (values["expires-in-days"] !== undefined) {
        const days = decimal(values["expires-in-days"], false);
        if (days === undefined || days < 1 || days > 3650)
          fail("--expires-in-days must be a whole number from 1 to 3650");
        expireTime = now + days * 86_400_000;
      }
      let rateLimit: { perSecond: number; burst: number } | undefined;
      if (values.rate !== undefined) {
        const [perSecond, burst] = String(values.rate).split("/").map(Number);
        rateLimit = { perSecond: perSecond ?? Number.NaN, burst: burst ?? Number.NaN };
        failOnViolations(checkRateLimit(rateLimit, "--rate"));
      }
      const { row, key } = await keys.createKey({ name, role, expireTime, rateLimit }, now, actorFor("createApiKey"));
      process.stderr.write(`created ${row.role} key "${row.name}" (id ${row.id}); it is shown only once:\n`);
      process.stdout.write(`${key}\n`);
      return;
    }
    case "list": {
      let rows = await keys.listKeys(undefined, 500);
      while (rows.length > 0) {
        for (const row of rows) process.stdout.write(`${describe(row, now)}\n`);
        const last = rows.at(-1);
        rows = last ? await keys.listKeys({ createTime: last.createTime, id: last.id }, 500) : [];
      }
      return;
    }
    case "revoke": {
      const id = keyIdArgument(positionals);
      const result = await keys.revokeKey(id, now, actorFor("revokeApiKey"));
      if (result.kind !== "ok") fail(`no key ${id}`);
      process.stderr.write(`revoked ${id}\n`);
      return;
    }
    case "rotate": {
      const id = keyIdArgument(positionals);
      const hours = decimal(values["grace-hours"] ?? "0", true);
      // Stored to the millisecond, like every time.
      const graceMs = hours === undefined ? Number.NaN : Math.round(hours * 3_600_000);
      if (!(graceMs >= 0 && graceMs <= ROTATION_GRACE_MAX_MS)) fail("--grace-hours must be a number from 0 to 720");
      const result = await keys.rotateKey(id, now, graceMs, actorFor("rotateApiKey"));
      if (result.kind === "not_found") fail(`no key ${id}`);
      if (result.kind === "revoked") fail(`key ${id} is revoked; create a new one`);
      process.stderr.write(`rotated ${id}; the old secret works until ${iso(now + graceMs)}. New key:\n`);
      process.stdout.write(`${result.key}\n`);
      return;
    }
    default:
      fail(command ? `unknown command "${command}"` : "a command is required");
  }
}

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      role: { type: "string" },
      name: { type: "string" },
      "expires-in-days": { type: "string" },
      rate: { type: "string" },
      "grace-hours": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const storage = await openStorage(config, pino({ level: "warn" }, pino.destination(2)), { server: false });
  try {
    if (!(await databaseReached(storage, config.dbConnectTimeoutMs)))
      throw new Error(`the database could not be reached within ${config.dbConnectTimeoutMs} ms`);
    await run(createKeyStore(storage), positionals, values);
  } finally {
    await storage.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`keys: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
