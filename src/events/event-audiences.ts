import { sql } from "drizzle-orm";
import type { Transaction } from "../db/storage.js";
import { type FieldViolation, invalidArgument } from "../errors.js";
import type { EventFields } from "./event-record.js";

type AudienceLists = Pick<EventFields, "audiences" | "excludedAudiences">;

/** Whether two sets of audience lists differ (in names or order: both are stored as given). */
export function audiencesChanged(before: AudienceLists, after: AudienceLists): boolean {
  return (
    JSON.stringify([before.audiences, before.excludedAudiences]) !==
    JSON.stringify([after.audiences, after.excludedAudiences])
  );
}

/**
 * Refuses names of audiences that do not exist, holding those that do until `tx` ends: on PostgreSQL a key-share
 * lock, which makes a concurrent DeleteAudience wait and then meet the event's rows in event_audiences (SQLite's
 * writers are serialized).
 */
async function lockAudiences(tx: Transaction, fields: AudienceLists): Promise<void> {
  const names = [...fields.audiences, ...fields.excludedAudiences];
  if (names.length === 0) return;
  const lock = tx.dialect === "postgres" ? sql` FOR KEY SHARE` : sql.empty();
  const found = await tx.all<{ name: string }>(
    sql`SELECT name FROM audiences WHERE name IN (${sql.join(
      names.map((name) => sql`${name}`),
      sql`, `,
    )}) ORDER BY name${lock}`,
  );
  const existing = new Set(found.map((row) => row.name));
  const violations: FieldViolation[] = [];
  const missing = (list: readonly string[], path: string) =>
    list.forEach((name, i) => {
      if (!existing.has(name)) {
        violations.push({
          field: `event.${path}[${i}]`,
          description: `names the audience "${name}", which does not exist`,
          reason: "AUDIENCE_NOT_FOUND",
        });
      }
    });
  missing(fields.audiences, "audiences");
  missing(fields.excludedAudiences, "excluded_audiences");
  if (violations.length > 0) throw invalidArgument(violations);
}

/**
 * Stores which audiences event `eventId` names, inside the write of its fields: refuses (INVALID_ARGUMENT,
 * AUDIENCE_NOT_FOUND) a name that is not an audience, then replaces the event's rows in event_audiences, whose
 * foreign key keeps an audience in use from being deleted.
 */
export async function saveEventAudiences(tx: Transaction, eventId: string, fields: AudienceLists): Promise<void> {
  await lockAudiences(tx, fields);
  await tx.run(sql`DELETE FROM event_audiences WHERE event_id = ${eventId}`);
  const rows = [
    ...fields.audiences.map((name) => sql`(${eventId}, ${name}, FALSE)`),
    ...fields.excludedAudiences.map((name) => sql`(${eventId}, ${name}, TRUE)`),
  ];
  if (rows.length === 0) return;
  await tx.run(sql`INSERT INTO event_audiences (event_id, audience_name, excluded) VALUES ${sql.join(rows, sql`, `)}`);
}
