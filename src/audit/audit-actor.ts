import type { HandlerContext } from "@connectrpc/connect";
import { principalKey } from "../auth/access-control.js";
import { methodPath } from "../auth/roles.js";
import { requestIdKey } from "../server/request-id.js";
import type { AuditActor } from "./audit-log.js";

/** The actor of a call, for its audit entry. Only authenticated calls change anything. */
export function auditActorOf(ctx: HandlerContext): AuditActor {
  const principal = ctx.values.get(principalKey);
  if (!principal) throw new Error(`${methodPath(ctx.method)} ran without a verified principal`);
  return { actorKeyId: principal.keyId, method: methodPath(ctx.method), requestId: ctx.values.get(requestIdKey) };
}
