import type { DescMethod } from "@bufbuild/protobuf";
import { EventAdminService } from "../../gen/liveops/v1/event_admin_service_pb.js";
import { EventService } from "../../gen/liveops/v1/event_service_pb.js";

/** The roles an API key can have. */
export const roles = ["viewer", "operator", "admin"] as const;
/** A role of an API key. */
export type Role = (typeof roles)[number];

const readers: readonly Role[] = ["viewer", "operator", "admin"];
const managers: readonly Role[] = ["operator", "admin"];

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
]);

/** Whether a key with `role` may call the method at `path`. */
export function mayCall(role: Role, path: string): boolean {
  return methodRoles.get(path)?.includes(role) ?? false;
}
