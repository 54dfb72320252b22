import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import type { RateLimit } from "../../gen/liveops/v1/api_key_pb.js";
import {
  type CreateApiKeyRequest,
  type CreateApiKeyResponse,
  CreateApiKeyResponseSchema,
  type GetApiKeyRequest,
  type GetApiKeyResponse,
  GetApiKeyResponseSchema,
  type ListApiKeysRequest,
  type ListApiKeysResponse,
  ListApiKeysResponseSchema,
  type RevokeApiKeyRequest,
  type RevokeApiKeyResponse,
  RevokeApiKeyResponseSchema,
  type RotateApiKeyRequest,
  type RotateApiKeyResponse,
  RotateApiKeyResponseSchema,
  type UpdateApiKeyRequest,
  type UpdateApiKeyResponse,
  UpdateApiKeyResponseSchema,
} from "../../gen/liveops/v1/api_key_service_pb.js";
import { auditActorOf } from "../audit/audit-actor.js";
import type { Clock } from "../clock.js";
import { assertValid, type FieldViolation, notFound, serviceError } from "../errors.js";
import { type PageTokens, pageSizeOf, takePage } from "../page-token.js";
import { durationToMs, laterTimestampMs, timestampToMs } from "../timestamps.js";
import { KEY_ID_FORMAT } from "./api-key.js";
import { roleFromProto, rowToApiKey } from "./api-key-record.js";
import type { KeyCursor, KeyRateLimit, KeyStore, KeyWriteResult } from "./key-store.js";
import { checkExpireTime, checkKeyName, checkRateLimit, ROTATION_GRACE_MAX_MS } from "./key-validation.js";

function checkKeyId(id: string, field: string): FieldViolation[] {
  if (id === "") return [{ field, description: "is required", reason: "REQUIRED" }];
  if (!KEY_ID_FORMAT.test(id))
    return [{ field, description: "must be 16 lowercase hex characters", reason: "INVALID_FORMAT" }];
  return [];
}

function rateLimitOf(limit: RateLimit): KeyRateLimit {
  return { perSecond: limit.requestsPerSecond, burst: limit.burst };
}

function isCursor(value: unknown): value is KeyCursor {
  const c = value as KeyCursor;
  return typeof c === "object" && c !== null && Number.isSafeInteger(c.createTime) && typeof c.id === "string";
}

/** liveops.v1.ApiKeyService: issues, lists, rotates and revokes API keys. */
export function createApiKeyService(deps: { keys: KeyStore; clock: Clock; pageTokens: PageTokens }) {
  const { keys, clock, pageTokens } = deps;

  const written = (result: KeyWriteResult, id: string) => {
    if (result.kind === "not_found") throw notFound("api_key", id);
    if (result.kind === "revoked") {
      throw serviceError(Code.FailedPrecondition, "API_KEY_REVOKED", `api key ${id} is revoked; create a new key`);
    }
    return result;
  };

  return {
    async createApiKey(req: CreateApiKeyRequest, ctx: HandlerContext): Promise<CreateApiKeyResponse> {
      const now = clock.now();
      const role = roleFromProto(req.role);
      const violations: FieldViolation[] = [];
      const expireTime = req.expireTime ? timestampToMs(req.expireTime, "expire_time", violations) : undefined;
      violations.push(
        ...checkKeyName(req.name, "name"),
        ...(role ? [] : [{ field: "role", description: "must be a role", reason: "REQUIRED" }]),
        ...checkExpireTime(expireTime, now, "expire_time"),
        ...(req.rateLimit ? checkRateLimit(rateLimitOf(req.rateLimit), "rate_limit") : []),
      );
      assertValid(violations);
      const { row, key } = await keys.createKey(
        {
          name: req.name.trim(),
          role: role ?? "viewer",
          expireTime,
          rateLimit: req.rateLimit ? rateLimitOf(req.rateLimit) : undefined,
        },
        now,
        auditActorOf(ctx),
      );
      return create(CreateApiKeyResponseSchema, { apiKey: rowToApiKey(row, now), secret: key });
    },

    async listApiKeys(req: ListApiKeysRequest): Promise<ListApiKeysResponse> {
      const limit = pageSizeOf(req.pageSize);
      const after = pageTokens.decode("ListApiKeys", req.pageToken);
      if (after !== undefined && !isCursor(after)) throw new Error("a signed page token holds no cursor");
      const { page, last } = takePage(await keys.listKeys(after, limit + 1), limit);
      const now = clock.now();
      return create(ListApiKeysResponseSchema, {
        apiKeys: page.map((row) => rowToApiKey(row, now)),
        nextPageToken: last ? pageTokens.encode("ListApiKeys", { createTime: last.createTime, id: last.id }) : "",
      });
    },

    async getApiKey(req: GetApiKeyRequest): Promise<GetApiKeyResponse> {
      assertValid(checkKeyId(req.id, "id"));
      const row = await keys.findKeyById(req.id);
      if (!row) throw notFound("api_key", req.id);
      return create(GetApiKeyResponseSchema, { apiKey: rowToApiKey(row, clock.now()) });
    },

    async updateApiKey(req: UpdateApiKeyRequest, ctx: HandlerContext): Promise<UpdateApiKeyResponse> {
      const apiKey = req.apiKey;
      const id = apiKey?.id ?? "";
      const violations = checkKeyId(id, "api_key.id");
      const paths = req.updateMask?.paths ?? [];
      if (paths.length === 0) {
        violations.push({
          field: "update_mask",
          description: "must name name, rate_limit or expire_time",
          reason: "REQUIRED",
        });
      }
      for (const path of paths) {
        if (path !== "name" && path !== "rate_limit" && path !== "expire_time") {
          violations.push({
            field: "update_mask",
            description: `"${path}" cannot be updated`,
            reason: "UNKNOWN_FIELD",
          });
        }
      }
      const name = paths.includes("name") ? (apiKey?.name ?? "") : undefined;
      if (name !== undefined) violations.push(...checkKeyName(name, "api_key.name"));
      const limit = apiKey?.rateLimit ? rateLimitOf(apiKey.rateLimit) : null;
      if (paths.includes("rate_limit") && limit) violations.push(...checkRateLimit(limit, "api_key.rate_limit"));
      const now = clock.now();
      // An expire_time in the mask but unset: the key never expires.
      const expireTime =
        paths.includes("expire_time") && apiKey?.expireTime
          ? timestampToMs(apiKey.expireTime, "api_key.expire_time", violations)
          : undefined;
      if (expireTime !== undefined) violations.push(...checkExpireTime(expireTime, now, "api_key.expire_time"));
      assertValid(violations);
      const result = await keys.updateKey(id, now, auditActorOf(ctx), {
        ...(name !== undefined ? { name: name.trim() } : {}),
        ...(paths.includes("rate_limit") ? { rateLimit: limit } : {}),
        ...(paths.includes("expire_time") ? { expireTime: expireTime ?? null } : {}),
      });
      return create(UpdateApiKeyResponseSchema, { apiKey: rowToApiKey(written(result, id).row, now) });
    },

    async revokeApiKey(req: RevokeApiKeyRequest, ctx: HandlerContext): Promise<RevokeApiKeyResponse> {
      assertValid(checkKeyId(req.id, "id"));
      const now = clock.now();
      const result = written(await keys.revokeKey(req.id, now, auditActorOf(ctx)), req.id);
      return create(RevokeApiKeyResponseSchema, { apiKey: rowToApiKey(result.row, now) });
    },

    async rotateApiKey(req: RotateApiKeyRequest, ctx: HandlerContext): Promise<RotateApiKeyResponse> {
      const violations = checkKeyId(req.id, "id");
      const graceMs = req.gracePeriod ? durationToMs(req.gracePeriod, "grace_period", violations) : 0;
      if (graceMs !== undefined && (graceMs < 0 || graceMs > ROTATION_GRACE_MAX_MS)) {
        violations.push({ field: "grace_period", description: "must be from 0 to 30 days", reason: "OUT_OF_RANGE" });
      }
      const now = clock.now();
      if (graceMs !== undefined && graceMs > 0 && laterTimestampMs(now, graceMs) === undefined) {
        const description = "would end after the last time that can be stored, 9999-12-31T23:59:59.999Z";
        violations.push({ field: "grace_period", description, reason: "OUT_OF_RANGE" });
      }
      assertValid(violations);
      const result = written(await keys.rotateKey(req.id, now, graceMs ?? 0, auditActorOf(ctx)), req.id);
      return create(RotateApiKeyResponseSchema, { apiKey: rowToApiKey(result.row, now), secret: result.key ?? "" });
    },
  };
}
