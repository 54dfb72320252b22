import type { DescMethod } from "@bufbuild/protobuf";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { ApiKeyService } from "../../gen/liveops/v1/api_key_service_pb.js";
import { AudienceService } from "../../gen/liveops/v1/audience_service_pb.js";
import { AuditService } from "../../gen/liveops/v1/audit_service_pb.js";
import { CounterService } from "../../gen/liveops/v1/counter_service_pb.js";
import { EventAdminService } from "../../gen/liveops/v1/event_admin_service_pb.js";
import { EventService } from "../../gen/liveops/v1/event_service_pb.js";
import { LeaderboardService } from "../../gen/liveops/v1/leaderboard_service_pb.js";
import { PlayerService } from "../../gen/liveops/v1/player_service_pb.js";
import { RewardService } from "../../gen/liveops/v1/reward_service_pb.js";
import { SessionService } from "../../gen/liveops/v1/session_service_pb.js";

/** The roles an API key can have. */
export const apiKeyRoles = ["viewer", "game_server", "operator", "admin"] as const;
/** A role of an API key. */
export type ApiKeyRole = (typeof apiKeyRoles)[number];
/** Every role a caller can have: an API key's, or `player` for a player token (its own view only). */
export const roles = [...apiKeyRoles, "player"] as const;
/** A role of a caller. */
export type Role = (typeof roles)[number];

const readers: readonly Role[] = ["viewer", "game_server", "operator", "admin"];
const everyone: readonly Role[] = [...readers, "player"];
const managers: readonly Role[] = ["operator", "admin"];
const gameServers: readonly Role[] = ["game_server", "admin"];
const gameServersAndPlayers: readonly Role[] = [...gameServers, "player"];
const playerWriters: readonly Role[] = ["game_server", "operator", "admin"];
const admins: readonly Role[] = ["admin"];

/** Methods anyone may call without a key: health checks and server reflection. */
export const PUBLIC = "public";
type Access = readonly Role[] | typeof PUBLIC;

/** Each method's path, made once: the key check and the call's accounting ask for it on every call. */
const methodPaths = new WeakMap<DescMethod, string>();

/** The method path (`/package.Service/Method`) of a method descriptor. */
export function methodPath(method: DescMethod): string {
  let path = methodPaths.get(method);
  if (path === undefined) {
    path = `/${method.parent.typeName}/${method.name}`;
    methodPaths.set(method, path);
  }
  return path;
}

/**
 * THE permission table: every method the service serves, and the roles that may call it. A method missing here
 * is refused to every key. The REST routes are checked as the method they call. The player role is further held to
 * its own player and to the events that target it, by the methods themselves (see src/players/player-view.ts).
 */
export const methodRoles: ReadonlyMap<string, Access> = new Map<string, Access>([
  [methodPath(EventService.method.listEvents), everyone],
  [methodPath(EventService.method.getEvent), everyone],
  [methodPath(EventService.method.listEventRuns), everyone],
  [methodPath(EventService.method.watchEvents), everyone],
  [methodPath(EventAdminService.method.createEvent), managers],
  [methodPath(EventAdminService.method.updateEvent), managers],
  [methodPath(EventAdminService.method.deleteEvent), managers],
  [methodPath(EventAdminService.method.endEvent), managers],
  [methodPath(LeaderboardService.method.joinEvent), gameServers],
  [methodPath(LeaderboardService.method.submitScore), gameServers],
  [methodPath(LeaderboardService.method.listScores), readers],
  [methodPath(LeaderboardService.method.listScoresAroundPlayer), everyone],
  [methodPath(LeaderboardService.method.getPlayerScore), everyone],
  [methodPath(LeaderboardService.method.watchLeaderboard), readers],
  // Readers list an event's grants (the dashboard); a player only its own.
  [methodPath(RewardService.method.listRewardGrants), everyone],
  [methodPath(RewardService.method.claimReward), gameServersAndPlayers],
  [methodPath(CounterService.method.incrementCounter), gameServers],
  [methodPath(SessionService.method.getSession), everyone],
  [methodPath(PlayerService.method.setPlayerProperties), playerWriters],
  [methodPath(PlayerService.method.getPlayer), playerWriters],
  [methodPath(PlayerService.method.listPlayers), playerWriters],
  [methodPath(PlayerService.method.deletePlayer), managers],
  [methodPath(PlayerService.method.createPlayerToken), gameServers],
  [methodPath(PlayerService.method.rotatePlayerTokenKey), admins],
  ...AudienceService.methods.map((m) => [methodPath(m), managers] as const),
  ...ApiKeyService.methods.map((m) => [methodPath(m), admins] as const),
  ...AuditService.methods.map((m) => [methodPath(m), admins] as const),
  ...Health.methods.map((m) => [methodPath(m), PUBLIC] as const),
  ...ReflectionV1.methods.map((m) => [methodPath(m), PUBLIC] as const),
  ...ReflectionV1alpha.methods.map((m) => [methodPath(m), PUBLIC] as const),
]);

/** Whether anyone may call the method at `path` without a key. */
export function isPublic(path: string): boolean {
  return methodRoles.get(path) === PUBLIC;
}

/** Whether a key with `role` may call the method at `path`. */
export function mayCall(role: Role, path: string): boolean {
  const access = methodRoles.get(path);
  return access === PUBLIC || (access?.includes(role) ?? false);
}
