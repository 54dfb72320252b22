import type { DescMethod } from "@bufbuild/protobuf";
import { ApiKeyService } from "../../gen/liveops/v1/api_key_service_pb.js";
import { AuditService } from "../../gen/liveops/v1/audit_service_pb.js";
import { EventAdminService } from "../../gen/liveops/v1/event_admin_service_pb.js";
import { EventService } from "../../gen/liveops/v1/event_service_pb.js";

/** The roles an API key can have. */
export const roles = ["viewer", "game_server", "operator", "admin"] as const;
/** A role of an API key. */
export type Role = (typeof roles)[number];

const readers: readonly Role[] = ["viewer", "game_server", "operator", "admin"];
const managers: readonly Role[] = ["operator", "admin"];
const admins: readonly Role[] = ["admin"];

/** The method path (`/package.Service/Method`) of a method descriptor. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/**
 * THE permission table: every method the service serves, and the roles that may call it. A method missing here
 * is refused to every key. The REST routes are checked as the method they call.
 */
export const methodRoles: ReadonlyMap<string, readonly Role[]> = new Map([
  [methodPath(EventService.method.listEvents), readers],
  [methodPath(EventService.method.getEvent), readers],
  [methodPath(EventAdminService.method.createEvent), managers],
  [methodPath(EventAdminService.method.updateEvent), managers],
  [methodPath(EventAdminService.method.deleteEvent), managers],
  ...ApiKeyService.methods.map((m) => [methodPath(m), admins] as const),
  ...AuditService.methods.map((m) => [methodPath(m), admins] as const),
]);

/** Whether a key with `role` may call the method at `path`. */
export function mayCall(role: Role, path: string): boolean {
  return methodRoles.get(path)?.includes(role) ?? false;
}
