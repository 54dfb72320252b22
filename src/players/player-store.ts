import type { JsonObject } from "@bufbuild/protobuf";
import { sql } from "drizzle-orm";
import { type AuditActor, appendAuditEntry, diffFields } from "../audit/audit-log.js";
import type { SqlClient, Storage, Transaction } from "../db/storage.js";
import { invalidArgument } from "../errors.js";
import { PROPERTIES_MAX, type StoredProperties, valueToAuditJson } from "./player-properties.js";

/** A player as stored, its properties parsed. */
export interface PlayerRow {
  id: string;
  properties: StoredProperties;
  createTime: number;
  updateTime: number;
  version: number;
}

interface RawPlayerRow extends Omit<PlayerRow, "properties"> {
  properties: string;
}

const PLAYER_COLUMNS = sql.raw(`id, properties, create_time AS "createTime", update_time AS "updateTime", version`);

function parsed(row: RawPlayerRow): PlayerRow {
  return { ...row, properties: JSON.parse(row.properties) as StoredProperties };
}

function auditJson(properties: StoredProperties): JsonObject {
  return Object.fromEntries(Object.entries(properties).map(([name, value]) => [name, valueToAuditJson(value)]));
}

/** A filter of players in id order: those after `after`, whose id starts with `prefix`. */
export interface PlayerScan {
  prefix?: string;
  after?: string | undefined;
  limit: number;
}

/** Inserts player `id` with no properties unless it exists; true when it was inserted. */
async function insertIfMissing(tx: Transaction, id: string, now: number): Promise<boolean> {
  const inserted = await tx.run(sql`
    INSERT INTO players (id, properties, create_time, update_time, version) VALUES (${id}, '{}', ${now}, ${now}, 1)
    ON CONFLICT (id) DO NOTHING`);
  return inserted > 0;
}

/** Queries of players. Every change appends its audit entry in its own transaction. */
export function createPlayerStore(storage: Storage) {
  const { reads } = storage;
  const find = async (client: SqlClient, id: string, lock = sql.empty()) => {
    const row = await client.get<RawPlayerRow>(sql`SELECT ${PLAYER_COLUMNS} FROM players WHERE id = ${id}${lock}`);
    return row && parsed(row);
  };

  return {
    /** The stored player `id`, if any. */
    findPlayer: (id: string, client: SqlClient = reads) => find(client, id),

    /**
     * Sets `set` and removes `remove` from player `id`'s properties, storing the player when it is new; refuses more
     * than PROPERTIES_MAX properties (INVALID_ARGUMENT).
     */
    setProperties(
      id: string,
      change: { set: StoredProperties; remove: readonly string[] },
      now: number,
      actor: AuditActor,
    ): Promise<{ row: PlayerRow; created: boolean }> {
      return storage.withTransaction(async (tx) => {
        const created = await insertIfMissing(tx, id, now);
        const current = await find(tx, id, tx.forUpdate);
        if (!current) throw new Error(`player ${id} was not found after its insert`);
        const properties: StoredProperties = { ...current.properties };
        for (const name of change.remove) delete properties[name];
        Object.assign(properties, change.set);
        const count = Object.keys(properties).length;
        if (count > PROPERTIES_MAX) {
          throw invalidArgument([
            {
              field: "properties",
              description: `the player would have ${count} properties; at most ${PROPERTIES_MAX}`,
              reason: "TOO_MANY",
            },
          ]);
        }
        const changes = diffFields(created ? undefined : auditJson(current.properties), auditJson(properties));
        if (Object.keys(changes).length === 0 && !created) return { row: current, created };
        const row = await tx.get<RawPlayerRow>(sql`
          UPDATE players SET properties = ${JSON.stringify(properties)}, update_time = ${now},
            version = ${current.version + 1}
          WHERE id = ${id} RETURNING ${PLAYER_COLUMNS}`);
        if (!row) throw new Error(`player ${id} was not updated`);
        await appendAuditEntry(tx, actor, now, { type: "player", id }, changes);
        return { row: parsed(row), created };
      });
    },

    /** Stores player `id` with no properties unless it exists (a token minted for a new player). */
    ensurePlayer(id: string, now: number, actor: AuditActor): Promise<boolean> {
      return storage.withTransaction(async (tx) => {
        const created = await insertIfMissing(tx, id, now);
        if (created) await appendAuditEntry(tx, actor, now, { type: "player", id }, diffFields(undefined, {}));
        return created;
      });
    },

    /** Deletes player `id`; false when it was not stored. */
    deletePlayer(id: string, now: number, actor: AuditActor): Promise<boolean> {
      return storage.withTransaction(async (tx) => {
        const current = await find(tx, id, tx.forUpdate);
        if (!current) return false;
        await tx.run(sql`DELETE FROM players WHERE id = ${id}`);
        await appendAuditEntry(
          tx,
          actor,
          now,
          { type: "player", id },
          diffFields(auditJson(current.properties), undefined),
        );
        return true;
      });
    },

    /** Players in id order after `after`, whose id starts with `prefix`. */
    async listPlayers({ prefix = "", after, limit }: PlayerScan): Promise<PlayerRow[]> {
      // substr() rather than a range or LIKE: exact on both databases whatever their collation and case rules.
      const byPrefix = prefix === "" ? sql`TRUE` : sql`substr(id, 1, ${prefix.length}) = ${prefix}`;
      const rows = await reads.all<RawPlayerRow>(sql`
        SELECT ${PLAYER_COLUMNS} FROM players
        WHERE ${byPrefix} AND ${after === undefined ? sql`TRUE` : sql`id > ${after}`}
        ORDER BY id LIMIT ${limit}`);
      return rows.map(parsed);
    },
  };
}

/** Queries of players. */
export type PlayerStore = ReturnType<typeof createPlayerStore>;
