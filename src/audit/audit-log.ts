import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { type SQL, sql } from "drizzle-orm";
import type { SqlClient } from "../db/storage.js";

/** Who is making a change, and through which call: taken from the call's context. */
export interface AuditActor {
  actorKeyId: string;
  method: string;
  requestId: string;
}

/** An audit entry as stored. */
export interface AuditRow {
  id: number;
  time: number;
  actorKeyId: string;
  method: string;
  targetType: string;
  targetId: string;
  requestId: string;
  /** JSON: {"field": {"before": …, "after": …}}. */
  changes: string;
}

/** {"field": {"before": …, "after": …}}: only the fields that differ; a side is absent when its state is. */
export type Changes = Record<string, { before?: JsonValue; after?: JsonValue }>;

/** The fields that differ between two states of a target (undefined: it did not exist). */
export function diffFields(before: JsonObject | undefined, after: JsonObject | undefined): Changes {
  const changes: Changes = {};
  const names = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  for (const name of names) {
    const b = before?.[name];
    const a = after?.[name];
    if (JSON.stringify(b) === JSON.stringify(a)) continue;
    changes[name] = {
      ...(before !== undefined && b !== undefined ? { before: b } : {}),
      ...(after !== undefined && a !== undefined ? { after: a } : {}),
    };
  }
  return changes;
}

/**
 * Appends one entry inside the transaction `tx` of the change it records, so that the change and its entry
 * commit or roll back together.
 */
export async function appendAuditEntry(
  tx: SqlClient,
  actor: AuditActor,
  time: number,
  target: { type: "event" | "api_key" | "player" | "audience" | "player_token_key"; id: string },
  changes: Changes,
): Promise<void> {
  await tx.run(sql`
    INSERT INTO audit_entries (time, actor_key_id, method, target_type, target_id, request_id, changes)
    VALUES (${time}, ${actor.actorKeyId}, ${actor.method}, ${target.type}, ${target.id}, ${actor.requestId},
      ${JSON.stringify(changes)})`);
}

/** A filter of audit entries; `beforeId` continues a page. */
export interface AuditQuery {
  targetId?: string | undefined;
  actorKeyId?: string | undefined;
  /** Entries made by any of these methods (full paths, or what a change made outside RPCs is named). */
  methods?: readonly string[] | undefined;
  targetType?: string | undefined;
  startTime?: number | undefined;
  endTime?: number | undefined;
  beforeId?: number | undefined;
  limit: number;
}

/** Reads of the audit log, newest first. There is no update or delete. */
export function createAuditLog(reads: SqlClient) {
  return {
    listEntries(query: AuditQuery): Promise<AuditRow[]> {
      const conditions: SQL[] = [sql`TRUE`];
      if (query.targetId) conditions.push(sql`target_id = ${query.targetId}`);
      if (query.actorKeyId) conditions.push(sql`actor_key_id = ${query.actorKeyId}`);
      if (query.methods) {
        conditions.push(
          sql`method IN (${sql.join(
            query.methods.map((m) => sql`${m}`),
            sql`, `,
          )})`,
        );
      }
      if (query.targetType) conditions.push(sql`target_type = ${query.targetType}`);
      if (query.startTime !== undefined) conditions.push(sql`time >= ${query.startTime}`);
      if (query.endTime !== undefined) conditions.push(sql`time < ${query.endTime}`);
      if (query.beforeId !== undefined) conditions.push(sql`id < ${query.beforeId}`);
      return reads.all<AuditRow>(sql`
        SELECT id, time, actor_key_id AS "actorKeyId", method, target_type AS "targetType",
          target_id AS "targetId", request_id AS "requestId", changes
        FROM audit_entries WHERE ${sql.join(conditions, sql` AND `)}
        ORDER BY id DESC LIMIT ${query.limit}`);
    },
  };
}

/** The audit log reads. */
export type AuditLog = ReturnType<typeof createAuditLog>;
