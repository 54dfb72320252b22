import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { useState } from "react";

/** One field of AuditEntry.changes: a side is absent when the target did not exist then (src/audit/audit-log.ts). */
interface FieldChange {
  before?: JsonValue;
  after?: JsonValue;
}

/** The labels of the fields the server audits, by target type (src/*\/…-store.ts `auditJson`). */
const FIELD_LABELS: Record<string, Record<string, string>> = {
  event: {
    title: "Title",
    description: "Description",
    start_time: "Start",
    end_time: "End",
    rewards: "Rewards",
    metadata: "Metadata",
    recurrence: "Schedule",
    leaderboard: "Leaderboard",
    audiences: "Audiences",
    excluded_audiences: "Excluded audiences",
  },
  api_key: {
    name: "Name",
    role: "Role",
    expire_time: "Expiry",
    revoke_time: "Revoked",
    rotate_time: "Rotated",
    previous_secret_expire_time: "Old secret works until",
    rate_limit: "Rate limit",
  },
  audience: {
    description: "Description",
    expression: "Rule",
    include_player_ids: "Always included players",
    exclude_player_ids: "Always excluded players",
  },
  player_token_key: { signing_key_id: "Signing key" },
};

/** What an unset value means, by field. */
const UNSET_WORDS: Record<string, string> = {
  end_time: "no end",
  expire_time: "never",
  revoke_time: "not revoked",
  rotate_time: "never",
  previous_secret_expire_time: "no old secret",
  rate_limit: "default for the role",
  recurrence: "one run, no repeats",
  leaderboard: "no leaderboard",
  metadata: "none",
};

/** Values longer than this are cut, with a button that shows them whole. */
export const LONG_VALUE = 120;

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** A field's label: the audited field's name for people; a player's properties keep their own names. */
export function fieldLabel(targetType: string, field: string): string {
  if (targetType === "player") return field;
  const known = FIELD_LABELS[targetType]?.[field];
  if (known) return known;
  const words = field.replace(/_/g, " ");
  return `${words.charAt(0).toUpperCase()}${words.slice(1)}`;
}

function durationText(ms: number): string {
  const units: [string, number][] = [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["min", 60_000],
    ["s", 1000],
  ];
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)} ${unit}`);
      rest %= size;
    }
  }
  return parts.join(" ") || "0 s";
}

/** A value of a field as people read it: times in the viewer's zone, numbers grouped, lists joined. */
export function valueText(field: string, value: JsonValue | undefined): string {
  if (value === undefined || value === null) return UNSET_WORDS[field] ?? "none";
  if (typeof value === "string") {
    if (ISO_TIME.test(value)) return new Date(value).toLocaleString();
    if (field === "role") return value.replace(/_/g, " ");
    return value === "" ? "(empty)" : value;
  }
  if (typeof value === "number") return value.toLocaleString(undefined, { maximumFractionDigits: 15 });
  if (typeof value === "boolean") return String(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return "none";
    if (value.every((v) => typeof v === "string" || typeof v === "number")) return value.join(", ");
    return JSON.stringify(value);
  }
  if (field === "rate_limit" && typeof value.per_second === "number" && typeof value.burst === "number") {
    return `${value.per_second.toLocaleString()} req/s, burst ${value.burst.toLocaleString()}`;
  }
  if (field === "recurrence" && typeof value.rule === "string") {
    const duration =
      typeof value.run_duration_ms === "number" ? `, runs of ${durationText(value.run_duration_ms)}` : "";
    const zone = typeof value.time_zone === "string" && value.time_zone !== "" ? value.time_zone : "UTC";
    return `${value.rule}${duration}, in ${zone}`;
  }
  return JSON.stringify(value);
}

/** A value, cut when long, with a button that shows it whole. */
function Value({ text }: { text: string }) {
  const [whole, setWhole] = useState(false);
  if (text.length <= LONG_VALUE) return <span className="audit-value">{text}</span>;
  return (
    <span className="audit-value">
      {whole ? text : `${text.slice(0, LONG_VALUE)}…`}{" "}
      <button type="button" className="link-button" aria-expanded={whole} onClick={() => setWhole(!whole)}>
        {whole ? "Show less" : `Show all ${text.length.toLocaleString()} characters`}
      </button>
    </span>
  );
}

/** Whether a value says something: not null, empty text, an empty list or an empty object. */
function isSet(value: JsonValue | undefined): boolean {
  if (value === undefined || value === null || value === "") return false;
  if (Array.isArray(value)) return value.length > 0;
  return typeof value !== "object" || Object.keys(value).length > 0;
}

/** The fields of an entry's changes, in the order the server wrote them. */
function fieldsOf(changes: JsonObject | undefined): [string, FieldChange][] {
  return Object.entries(changes ?? {}).flatMap(([field, change]) =>
    change !== null && typeof change === "object" && !Array.isArray(change) ? [[field, change as FieldChange]] : [],
  );
}

/**
 * What an audit entry changed: each field's label with its old and new value ("old → new"); a created target's
 * values alone, a deleted target's last values alone.
 */
export function AuditChanges({
  targetType,
  method,
  changes,
}: {
  targetType: string;
  /** The method's name alone ("CreateEvent"): creations and deletions show one side. */
  method: string;
  changes: JsonObject | undefined;
}) {
  const all = fieldsOf(changes);
  const creation = /^Create|^first start$/.test(method);
  if (all.length === 0) {
    return <p className="muted audit-no-changes">{creation ? "Created with nothing set." : "No field changed."}</p>;
  }
  const created = creation && all.every(([, c]) => !("before" in c));
  const deleted = method.startsWith("Delete") && all.every(([, c]) => !("after" in c));
  // A snapshot (created, deleted) shows what was set; "none" and "never" of every unset field would bury it.
  const fields = created || deleted ? all.filter(([, c]) => isSet(created ? c.after : c.before)) : all;
  return (
    <div className="audit-changes">
      {created && <p className="muted">Created with:</p>}
      {deleted && <p className="muted">Deleted; it was:</p>}
      <dl>
        {fields.map(([field, change]) => (
          <div key={field} className="audit-change" data-field={field}>
            <dt>{targetType === "player" ? <code>{field}</code> : fieldLabel(targetType, field)}</dt>
            <dd>
              {created || deleted ? (
                <Value text={valueText(field, created ? change.after : change.before)} />
              ) : (
                <>
                  <span className="audit-before">
                    <span className="sr-only">before: </span>
                    {"before" in change ? <Value text={valueText(field, change.before)} /> : <em>not set</em>}
                  </span>
                  <span aria-hidden className="audit-arrow">
                    {" → "}
                  </span>
                  <span className="audit-after">
                    <span className="sr-only">after: </span>
                    {"after" in change ? <Value text={valueText(field, change.after)} /> : <em>removed</em>}
                  </span>
                </>
              )}
            </dd>
          </div>
        ))}
      </dl>
    </div>
  );
}
