import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import type { Clock } from "../clock.js";
import { parseApiKey, secretHashesEqual } from "../keys/api-key.js";
import type { KeyStore } from "../keys/key-store.js";
import { mayCall, methodPath, type Role } from "./roles.js";

/** The caller of a request, once its key is verified. */
export interface Principal {
  keyId: string;
  role: Role;
}

/** The verified caller, for handlers and the logging interceptor; undefined before authentication. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "the caller's API key" });

const BEARER = /^Bearer +(\S+) *$/i;

/** Checks API keys and the permission table for every protocol and the REST routes. */
export interface AccessControl {
  /**
   * The principal of an `Authorization` header value allowed to call the method at `path`: UNAUTHENTICATED when
   * the header is missing or malformed or the key is unknown, expired or revoked; PERMISSION_DENIED when the key's
   * role may not call the method.
   */
  check(authorization: string | null | undefined, path: string): Principal;
}

/** Access control backed by the key store. */
export function createAccessControl(keys: KeyStore, clock: Clock): AccessControl {
  const unauthenticated = (why: string) => new ConnectError(why, Code.Unauthenticated);
  return {
    check(authorization, path) {
      if (!authorization) throw unauthenticated('missing "Authorization: Bearer <api key>" header');
      const token = BEARER.exec(authorization)?.[1];
      if (!token) throw unauthenticated('malformed Authorization header: expected "Bearer <api key>"');
      const presented = parseApiKey(token);
      const row = presented ? keys.findKeyById(presented.id) : undefined;
      if (!presented || !row || !secretHashesEqual(row.secretHash, presented.secretHash)) {
        throw unauthenticated("unknown API key");
      }
      const now = clock.now();
      if (row.revokeTime !== null && row.revokeTime <= now) throw unauthenticated("API key revoked");
      if (row.expireTime !== null && row.expireTime <= now) throw unauthenticated("API key expired");
      if (!mayCall(row.role, path)) {
        throw new ConnectError(`the ${row.role} role may not call ${path}`, Code.PermissionDenied);
      }
      return { keyId: row.id, role: row.role };
    },
  };
}

/** The interceptor that applies {@link AccessControl} to every RPC and records the principal. */
export function createAuthInterceptor(access: AccessControl): Interceptor {
  return (next) => async (req) => {
    const principal = access.check(req.header.get("authorization"), methodPath(req.method));
    req.contextValues.set(principalKey, principal);
    return await next(req);
  };
}
