import { randomUUID } from "node:crypto";
import { ApiKeyState } from "../../gen/liveops/v1/api_key_pb.js";
import { ApiKeyService } from "../../gen/liveops/v1/api_key_service_pb.js";
import type { AuditActor } from "../audit/audit-log.js";
import { type ApiKeyRole, apiKeyRoles, methodPath } from "../auth/roles.js";
import { KEY_ID_FORMAT } from "./api-key.js";
import { keyStateAt } from "./api-key-record.js";
import { CliFailure } from "./cli-database.js";
import { type CliRequest, UsageError } from "./cli-options.js";
import type { ApiKeyRow, KeyRateLimit, KeyStore } from "./key-store.js";
import { checkKeyName, checkRateLimit, ROTATION_GRACE_MAX_MS } from "./key-validation.js";

/** A command whose values have been checked: nothing in it can be refused for its form any more. */
export type KeyTask =
  | { command: "create"; role: ApiKeyRole; name: string; expiresInDays?: number; rateLimit?: KeyRateLimit }
  | { command: "list" }
  | { command: "revoke"; id: string }
  | { command: "rotate"; id: string; graceMs: number };

/**
 * A number written in plain decimal digits (`Number` alone also takes `1e3`, `0x10`, ` 5 ` and `Infinity`), or
 * undefined.
 */
function decimal(text: string | undefined, fraction: boolean): number | undefined {
  const form = fraction ? /^\d{1,9}(\.\d{1,9})?$/ : /^\d{1,9}$/;
  return text !== undefined && form.test(text) ? Number(text) : undefined;
}

function keyId(request: CliRequest): string {
  const id = request.id;
  if (!id || !KEY_ID_FORMAT.test(id)) {
    throw new UsageError(`${request.command} needs a key id (16 hex characters, as in \`list\`)`);
  }
  return id;
}

/** Checks every value of `request` before the database is opened; UsageError naming the first bad one. */
export function keyTaskOf(request: CliRequest & { command: KeyTask["command"] }): KeyTask {
  const { values } = request;
  switch (request.command) {
    case "create": {
      const role = values.role as ApiKeyRole | undefined;
      if (!role || !apiKeyRoles.includes(role)) throw new UsageError(`--role must be one of ${apiKeyRoles.join(", ")}`);
      const name = (values.name ?? "").trim();
      const [nameViolation] = checkKeyName(name, "--name");
      if (nameViolation) throw new UsageError(`--name ${nameViolation.description}`);
      const task: KeyTask = { command: "create", role, name };
      if (values["expires-in-days"] !== undefined) {
        const days = decimal(values["expires-in-days"], false);
        if (days === undefined || days < 1 || days > 3650) {
          throw new UsageError("--expires-in-days must be a whole number from 1 to 3650");
        }
        task.expiresInDays = days;
      }
      if (values.rate !== undefined) {
        const [perSecond, burst] = values.rate.split("/").map((part) => decimal(part, false));
        if (perSecond === undefined || burst === undefined || values.rate.split("/").length !== 2) {
          throw new UsageError("--rate must be <requests per second>/<burst> in whole numbers, e.g. 20/40");
        }
        const rateLimit = { perSecond, burst };
        const [violation] = checkRateLimit(rateLimit, "--rate");
        if (violation) throw new UsageError(`${violation.field} ${violation.description}`);
        task.rateLimit = rateLimit;
      }
      return task;
    }
    case "list":
      return { command: "list" };
    case "revoke":
      return { command: "revoke", id: keyId(request) };
    case "rotate": {
      const id = keyId(request);
      const hours = decimal(values["grace-hours"] ?? "0", true);
      // Stored to the millisecond, like every time.
      const graceMs = hours === undefined ? Number.NaN : Math.round(hours * 3_600_000);
      if (!(graceMs >= 0 && graceMs <= ROTATION_GRACE_MAX_MS)) {
        throw new UsageError(`--grace-hours must be a number from 0 to ${ROTATION_GRACE_MAX_MS / 3_600_000}`);
      }
      return { command: "rotate", id, graceMs };
    }
  }
}

const actorFor = (method: keyof typeof ApiKeyService.method): AuditActor => ({
  actorKeyId: "cli",
  method: methodPath(ApiKeyService.method[method]),
  requestId: randomUUID(),
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** What `--json` shows of a key: its metadata, never a secret or a hash. */
export function keyJson(row: ApiKeyRow, now: number) {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    state: ApiKeyState[keyStateAt(row, now)].toLowerCase(),
    createTime: iso(row.createTime),
    lastUsedTime: iso(row.lastUsedTime),
    expireTime: iso(row.expireTime),
    revokeTime: iso(row.revokeTime),
    rotateTime: iso(row.rotateTime),
    rateLimit:
      row.rateLimitPerSecond === null || row.rateLimitBurst === null
        ? null
        : { perSecond: row.rateLimitPerSecond, burst: row.rateLimitBurst },
  };
}

function keyLine(row: ApiKeyRow, now: number): string {
  const key = keyJson(row, now);
  const limit = key.rateLimit === null ? "role default" : `${key.rateLimit.perSecond}/${key.rateLimit.burst}`;
  return [
    row.id,
    row.role.padEnd(11),
    key.state.padEnd(7),
    `created ${key.createTime ?? "-"}`,
    `last used ${key.lastUsedTime ?? "-"}`,
    `expires ${key.expireTime ?? "-"}`,
    `rate ${limit}`,
    JSON.stringify(row.name),
  ].join("  ");
}

/** Where a command writes: the result on stdout (text or JSON), what a person reads on stderr. */
interface Output {
  json: boolean;
  result(text: string, json: unknown): void;
  note(text: string): void;
}

/** An {@link Output} on the process's stdout and stderr. */
export function processOutput(json: boolean): Output {
  return {
    json,
    result: (text, value) => process.stdout.write(`${json ? JSON.stringify(value) : text}\n`),
    note: (text) => process.stderr.write(`${text}\n`),
  };
}

/** Runs `task` on `keys` at `now`; CliFailure for a key that is not there or cannot be changed. */
export async function runKeyTask(keys: KeyStore, task: KeyTask, now: number, out: Output): Promise<void> {
  switch (task.command) {
    case "create": {
      const expireTime = task.expiresInDays === undefined ? undefined : now + task.expiresInDays * 86_400_000;
      const { row, key } = await keys.createKey(
        { name: task.name, role: task.role, expireTime, rateLimit: task.rateLimit },
        now,
        actorFor("createApiKey"),
      );
      if (!out.json) out.note(`created ${row.role} key "${row.name}" (id ${row.id}); it is shown only once:`);
      out.result(key, { ...keyJson(row, now), key });
      return;
    }
    case "list": {
      const all: ApiKeyRow[] = [];
      let rows = await keys.listKeys(undefined, 500);
      while (rows.length > 0) {
        if (out.json) all.push(...rows);
        else for (const row of rows) out.result(keyLine(row, now), undefined);
        const last = rows.at(-1);
        rows = last ? await keys.listKeys({ createTime: last.createTime, id: last.id }, 500) : [];
      }
      if (out.json)
        out.result(
          "",
          all.map((row) => keyJson(row, now)),
        );
      return;
    }
    case "revoke": {
      const result = await keys.revokeKey(task.id, now, actorFor("revokeApiKey"));
      if (result.kind !== "ok") throw new CliFailure(`no key ${task.id}`);
      if (out.json) out.result("", keyJson(result.row, now));
      else out.note(`revoked ${task.id}`);
      return;
    }
    case "rotate": {
      const result = await keys.rotateKey(task.id, now, task.graceMs, actorFor("rotateApiKey"));
      if (result.kind === "not_found") throw new CliFailure(`no key ${task.id}`);
      if (result.kind === "revoked") throw new CliFailure(`key ${task.id} is revoked; create a new one`);
      const until = iso(now + task.graceMs);
      if (!out.json) out.note(`rotated ${task.id}; the old secret works until ${until}. New key:`);
      const previousSecretExpireTime = task.graceMs > 0 ? until : null;
      out.result(result.key ?? "", { ...keyJson(result.row, now), key: result.key, previousSecretExpireTime });
      return;
    }
  }
}
