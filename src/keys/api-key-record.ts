import { create } from "@bufbuild/protobuf";
import { type ApiKey, ApiKeySchema, ApiKeyState, Role as RoleProto } from "../../gen/liveops/v1/api_key_pb.js";
import type { ApiKeyRole, Role } from "../auth/roles.js";
import { timestampFromStoredMs } from "../timestamps.js";
import type { ApiKeyRow } from "./key-store.js";

const toProto: Record<Role, RoleProto> = {
  viewer: RoleProto.VIEWER,
  game_server: RoleProto.GAME_SERVER,
  operator: RoleProto.OPERATOR,
  admin: RoleProto.ADMIN,
  player: RoleProto.PLAYER,
};

/** The proto Role value of a role. */
export function roleToProto(role: Role): RoleProto {
  return toProto[role];
}

/** The API key role of a proto Role value, or undefined for UNSPECIFIED, PLAYER (no key has it) and unknown values. */
export function roleFromProto(role: RoleProto): ApiKeyRole | undefined {
  return (Object.keys(toProto) as Role[]).find((r): r is ApiKeyRole => r !== "player" && toProto[r] === role);
}

/** Whether the key works at `now`, and if not, why. */
export function keyStateAt(row: ApiKeyRow, now: number): ApiKeyState {
  if (row.revokeTime !== null) return ApiKeyState.REVOKED;
  if (row.expireTime !== null && row.expireTime <= now) return ApiKeyState.EXPIRED;
  return ApiKeyState.ACTIVE;
}

const timestamp = (ms: number | null) => (ms === null ? undefined : timestampFromStoredMs(ms));

/** The API message of a stored key at `now`: metadata only, never a secret or a hash. */
export function rowToApiKey(row: ApiKeyRow, now: number): ApiKey {
  return create(ApiKeySchema, {
    id: row.id,
    name: row.name,
    role: toProto[row.role],
    createTime: timestamp(row.createTime),
    expireTime: timestamp(row.expireTime),
    revokeTime: timestamp(row.revokeTime),
    lastUsedTime: timestamp(row.lastUsedTime),
    rotateTime: timestamp(row.rotateTime),
    previousSecretExpireTime:
      row.previousSecretExpireTime !== null && row.previousSecretExpireTime > now
        ? timestampFromStoredMs(row.previousSecretExpireTime)
        : undefined,
    rateLimit:
      row.rateLimitPerSecond === null || row.rateLimitBurst === null
        ? undefined
        : { requestsPerSecond: row.rateLimitPerSecond, burst: row.rateLimitBurst },
    state: keyStateAt(row, now),
  });
}
