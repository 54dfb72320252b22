import type { DescField, DescMessage } from "@bufbuild/protobuf";
import type { FieldViolation } from "../errors.js";

const TIMESTAMP = "google.protobuf.Timestamp";

/**
 * The grammar protobuf-es reads a JSON Timestamp with (RFC 3339, upper-case `T` and `Z`, up to nine fractional
 * digits). protobuf-es hands the fields to `Date.parse`, which rolls an impossible date over ("2030-02-30" becomes
 * March 2) instead of refusing it; the fields are checked here first.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2}))$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Why `text` is not an RFC 3339 time on the calendar; undefined when it is one. */
export function calendarTimeProblem(text: string): string | undefined {
  const m = RFC3339.exec(text);
  if (!m) return "is not an RFC 3339 time like 2030-01-31T12:00:00Z";
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12) return `has no month ${m[2]}`;
  if (day < 1 || day > daysInMonth(year, month)) return `has no day ${m[3]} in month ${m[2]} of ${m[1]}`;
  if (hour > 23 || minute > 59 || second > 59) return `has no time of day ${m[4]}:${m[5]}:${m[6]}`;
  if (m[7] !== undefined && (Number(m[7]) > 23 || Number(m[8]) > 59)) return "has an impossible UTC offset";
  return undefined;
}

/** The JSON value of a field: protobuf JSON accepts the JSON name and the proto name. */
function fieldJson(json: Record<string, unknown>, field: DescField): unknown {
  const value = json[field.jsonName];
  return value === undefined ? json[field.name] : value;
}

/** Whether a nested message's JSON is read field by field (well-known types have their own JSON forms). */
function walksInto(message: DescMessage): boolean {
  return !message.typeName.startsWith("google.protobuf.");
}

function violation(path: string, value: unknown): FieldViolation | undefined {
  if (typeof value !== "string") return undefined; // not a string: protobuf-es refuses it with its own message
  const problem = calendarTimeProblem(value);
  return problem === undefined ? undefined : { field: path, description: `${JSON.stringify(value)} ${problem}` };
}

function messageViolation(schema: DescMessage, json: unknown, prefix: string): FieldViolation | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  for (const field of schema.fields) {
    const value = fieldJson(json as Record<string, unknown>, field);
    if (value === undefined || value === null) continue;
    const path = prefix === "" ? field.name : `${prefix}.${field.name}`;
    const found = fieldViolation(field, value, path);
    if (found) return found;
  }
  return undefined;
}

function elementViolation(message: DescMessage, value: unknown, path: string): FieldViolation | undefined {
  if (message.typeName === TIMESTAMP) return violation(path, value);
  return walksInto(message) ? messageViolation(message, value, path) : undefined;
}

function fieldViolation(field: DescField, value: unknown, path: string): FieldViolation | undefined {
  switch (field.fieldKind) {
    case "message":
      return elementViolation(field.message, value, path);
    case "list":
      if (field.listKind !== "message" || !Array.isArray(value)) return undefined;
      for (const [i, element] of value.entries()) {
        const found = elementViolation(field.message, element, `${path}[${i}]`);
        if (found) return found;
      }
      return undefined;
    case "map":
      if (field.mapKind !== "message" || typeof value !== "object" || Array.isArray(value)) return undefined;
      for (const [key, element] of Object.entries(value as Record<string, unknown>)) {
        const found = elementViolation(field.message, element, `${path}[${JSON.stringify(key)}]`);
        if (found) return found;
      }
      return undefined;
    default:
      return undefined;
  }
}

/**
 * The first google.protobuf.Timestamp in the JSON of a `schema` message that is not an RFC 3339 time on the
 * calendar, found by walking the message's fields (nested messages, lists and maps), named by its field path
 * (e.g. `event.start_time`); undefined when there is none. Strings in other fields are never looked at.
 */
export function timestampViolation(schema: DescMessage, json: unknown): FieldViolation | undefined {
  return messageViolation(schema, json, "");
}
