import type { JsonObject } from "@bufbuild/protobuf";
import { sql } from "drizzle-orm";
import { type AuditActor, appendAuditEntry, diffFields } from "../audit/audit-log.js";
import { appendClusterChange } from "../cluster/cluster-changes.js";
import type { SqlClient, Storage, Transaction } from "../db/storage.js";

/** The fields of an audience that clients write. */
export interface AudienceFields {
  description: string;
  expression: string;
  includeIds: string[];
  excludeIds: string[];
}

/** An audience as stored, its lists parsed. */
export interface AudienceRow extends AudienceFields {
  name: string;
  createTime: number;
  updateTime: number;
  version: number;
}

interface RawAudienceRow extends Omit<AudienceRow, "includeIds" | "excludeIds"> {
  includeIds: string;
  excludeIds: string;
}

/** The outcome of a change to an existing audience. */
export type AudienceWriteResult =
  | { kind: "ok"; row: AudienceRow }
  | { kind: "not_found" }
  | { kind: "etag_mismatch" }
  | { kind: "in_use"; eventId: string };

const AUDIENCE_COLUMNS = sql.raw(`name, description, expression, include_ids AS "includeIds",
  exclude_ids AS "excludeIds", create_time AS "createTime", update_time AS "updateTime", version`);

function parsed(row: RawAudienceRow): AudienceRow {
  return {
    ...row,
    includeIds: JSON.parse(row.includeIds) as string[],
    excludeIds: JSON.parse(row.excludeIds) as string[],
  };
}

function auditJson(fields: AudienceFields): JsonObject {
  return {
    description: fields.description,
    expression: fields.expression,
    include_player_ids: fields.includeIds,
    exclude_player_ids: fields.excludeIds,
  };
}

/** Logs a change of audience `name` in its transaction, so that every instance compiles its audiences again. */
async function audienceChanged(tx: Transaction, name: string, now: number) {
  await appendClusterChange(tx, "audience", name, {}, now);
}

/** Queries of audiences. Every change is audited and logged for the other instances in its own transaction. */
export function createAudienceStore(storage: Storage, etagOf: (row: AudienceRow) => string) {
  const { reads } = storage;
  const find = async (client: SqlClient, name: string, lock = sql.empty()) => {
    const row = await client.get<RawAudienceRow>(
      sql`SELECT ${AUDIENCE_COLUMNS} FROM audiences WHERE name = ${name}${lock}`,
    );
    return row && parsed(row);
  };
  const listeners = new Set<() => void>();
  const committed = () => {
    for (const listener of listeners) listener();
  };

  /** Reads audience `name` locked, checks `etag`, and lets `change` act on it. */
  const changeAudience = (
    name: string,
    etag: string,
    change: (tx: Transaction, current: AudienceRow) => Promise<AudienceWriteResult>,
  ): Promise<AudienceWriteResult> =>
    storage.withTransaction(
      async (tx) => {
        const current = await find(tx, name, tx.forUpdate);
        if (!current) return { kind: "not_found" };
        if (etag !== "" && etag !== etagOf(current)) return { kind: "etag_mismatch" };
        return change(tx, current);
      },
      { committed },
    );

  return {
    /** The audience `name`, if any. */
    findAudience: (name: string) => find(reads, name),

    /** Audiences by name after `after`. */
    async listAudiences(after: string | undefined, limit: number): Promise<AudienceRow[]> {
      const rows = await reads.all<RawAudienceRow>(sql`
        SELECT ${AUDIENCE_COLUMNS} FROM audiences
        WHERE ${after === undefined ? sql`TRUE` : sql`name > ${after}`} ORDER BY name LIMIT ${limit}`);
      return rows.map(parsed);
    },

    /** Every audience, for the catalog of compiled ones. */
    async allAudiences(): Promise<AudienceRow[]> {
      return (await reads.all<RawAudienceRow>(sql`SELECT ${AUDIENCE_COLUMNS} FROM audiences`)).map(parsed);
    },

    /** Creates audience `name`; undefined when one of that name exists. */
    createAudience(name: string, fields: AudienceFields, now: number, actor: AuditActor) {
      return storage.withTransaction(
        async (tx): Promise<AudienceRow | undefined> => {
          const row = await tx.get<RawAudienceRow>(sql`
            INSERT INTO audiences (name, description, expression, include_ids, exclude_ids, create_time, update_time,
              version)
            VALUES (${name}, ${fields.description}, ${fields.expression}, ${JSON.stringify(fields.includeIds)},
              ${JSON.stringify(fields.excludeIds)}, ${now}, ${now}, 1)
            ON CONFLICT (name) DO NOTHING
            RETURNING ${AUDIENCE_COLUMNS}`);
          if (!row) return undefined;
          await audienceChanged(tx, name, now);
          await appendAuditEntry(
            tx,
            actor,
            now,
            { type: "audience", id: name },
            diffFields(undefined, auditJson(fields)),
          );
          return parsed(row);
        },
        { committed },
      );
    },

    /** Replaces the fields of audience `name` (only if unchanged since `etag`, when given). */
    updateAudience(name: string, fields: AudienceFields, etag: string, now: number, actor: AuditActor) {
      return changeAudience(name, etag, async (tx, current) => {
        const changes = diffFields(auditJson(current), auditJson(fields));
        if (Object.keys(changes).length === 0) return { kind: "ok", row: current };
        const row = await tx.get<RawAudienceRow>(sql`
          UPDATE audiences SET description = ${fields.description}, expression = ${fields.expression},
            include_ids = ${JSON.stringify(fields.includeIds)}, exclude_ids = ${JSON.stringify(fields.excludeIds)},
            update_time = ${now}, version = ${current.version + 1}
          WHERE name = ${name} RETURNING ${AUDIENCE_COLUMNS}`);
        if (!row) throw new Error(`audience ${name} was not updated`);
        await audienceChanged(tx, name, now);
        await appendAuditEntry(tx, actor, now, { type: "audience", id: name }, changes);
        return { kind: "ok", row: parsed(row) };
      });
    },

    /** Deletes audience `name` unless an event names it. */
    deleteAudience(name: string, etag: string, now: number, actor: AuditActor) {
      return changeAudience(name, etag, async (tx, current) => {
        const user = await tx.get<{ eventId: string }>(
          sql`SELECT event_id AS "eventId" FROM event_audiences WHERE audience_name = ${name} LIMIT 1`,
        );
        if (user) return { kind: "in_use", eventId: user.eventId };
        await tx.run(sql`DELETE FROM audiences WHERE name = ${name}`);
        await audienceChanged(tx, name, now);
        await appendAuditEntry(
          tx,
          actor,
          now,
          { type: "audience", id: name },
          diffFields(auditJson(current), undefined),
        );
        return { kind: "ok", row: current };
      });
    },

    /** Calls `listener` after each committed change made through this store. */
    onChange(listener: () => void): void {
      listeners.add(listener);
    },
  };
}

/** Queries of audiences. */
export type AudienceStore = ReturnType<typeof createAudienceStore>;
