import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { type GetSessionResponse, GetSessionResponseSchema } from "../../gen/liveops/v1/session_service_pb.js";
import { principalKey } from "../auth/access-control.js";
import { notFound } from "../errors.js";
import { roleToProto } from "./api-key-record.js";
import type { KeyStore } from "./key-store.js";

/** liveops.v1.SessionService: who the caller is, for clients that adapt to the key's role. */
export function createSessionService(keys: KeyStore) {
  return {
    async getSession(_req: unknown, ctx: HandlerContext): Promise<GetSessionResponse> {
      const principal = ctx.values.get(principalKey);
      if (principal?.playerId !== undefined) {
        return create(GetSessionResponseSchema, {
          keyId: principal.keyId,
          name: principal.playerId,
          role: roleToProto(principal.role),
          playerId: principal.playerId,
        });
      }
      const row = principal && (await keys.findKeyById(principal.keyId));
      if (!principal || !row) throw notFound("api_key", principal?.keyId ?? "");
      return create(GetSessionResponseSchema, { keyId: row.id, name: row.name, role: roleToProto(principal.role) });
    },
  };
}
