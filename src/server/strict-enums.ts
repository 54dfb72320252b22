import type { DescEnum, DescField, DescMessage } from "@bufbuild/protobuf";
import type { FieldViolation } from "../errors.js";

/**
 * The fields of each message worth walking for enum values: enum fields, lists and maps of them, and message fields
 * whose messages hold some. Most requests hold none, so for them the walk costs one lookup.
 */
const enumFieldsOf = new WeakMap<DescMessage, readonly DescField[]>();

/** Whether a nested message's JSON is read field by field (well-known types have their own JSON forms). */
function walksInto(message: DescMessage): boolean {
  return !message.typeName.startsWith("google.protobuf.");
}

/**
 * The enum fields the protos mark "Output only": the server ignores what a client sends there, so a value it does
 * not know — one a newer server wrote, sent back by a client that round-trips the message — is not refused either
 * (a test keeps this list equal to the protos' comments).
 */
export const OUTPUT_ONLY_ENUM_FIELDS: ReadonlySet<string> = new Set([
  "liveops.v1.ApiKey.state",
  "liveops.v1.Event.status",
]);

function enumFields(schema: DescMessage): readonly DescField[] {
  let fields = enumFieldsOf.get(schema);
  if (fields === undefined) {
    fields = schema.fields.filter(
      (field) =>
        !OUTPUT_ONLY_ENUM_FIELDS.has(`${schema.typeName}.${field.name}`) && holdsEnums(field, new Set([schema])),
    );
    enumFieldsOf.set(schema, fields);
  }
  return fields;
}

function holdsEnums(field: DescField, seen: Set<DescMessage>): boolean {
  // Enum fields, lists and maps of enums have an enum; message fields, lists and maps of messages a message.
  if (field.enum) return true;
  const message = field.message;
  // A message already being looked at adds nothing new (recursive types).
  if (!message || !walksInto(message) || seen.has(message)) return false;
  seen.add(message);
  return message.fields.some((f) => holdsEnums(f, seen));
}

/** The JSON value of a field: protobuf JSON accepts the JSON name and the proto name. */
function fieldJson(json: Record<string, unknown>, field: DescField): unknown {
  const value = json[field.jsonName];
  return value === undefined ? json[field.name] : value;
}

/** The values of an enum as the violation lists them, made once per enum. */
const allowedOf = new WeakMap<DescEnum, string>();

function allowedValues(desc: DescEnum): string {
  let allowed = allowedOf.get(desc);
  if (allowed === undefined) {
    allowed = desc.values.map((v) => v.name).join(", ");
    allowedOf.set(desc, allowed);
  }
  return allowed;
}

/**
 * A violation for a JSON enum value that names no value of its enum: a string that is not one of its names, or a
 * whole number that is not one of its numbers. Other JSON types (and fractions) are left to the JSON reader, which
 * refuses them as malformed.
 */
function enumValueViolation(desc: DescEnum, value: unknown, path: string): FieldViolation | undefined {
  if (typeof value === "string") {
    if (desc.values.some((v) => v.name === value)) return undefined;
  } else if (typeof value === "number" && Number.isInteger(value)) {
    if (desc.values.some((v) => v.number === value)) return undefined;
  } else return undefined;
  return {
    field: path,
    description: `${JSON.stringify(value)} is not a value of ${desc.typeName}; use one of ${allowedValues(desc)}`,
    reason: "UNKNOWN_ENUM",
  };
}

function messageViolations(schema: DescMessage, json: unknown, prefix: string, into: FieldViolation[]) {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return;
  for (const field of enumFields(schema)) {
    const value = fieldJson(json as Record<string, unknown>, field);
    if (value === undefined || value === null) continue;
    const path = prefix === "" ? field.name : `${prefix}.${field.name}`;
    fieldViolations(field, value, path, into);
  }
}

function elementViolations(field: DescField, value: unknown, path: string, into: FieldViolation[]) {
  if (field.enum) {
    const found = enumValueViolation(field.enum, value, path);
    if (found) into.push(found);
  } else if (field.message) messageViolations(field.message, value, path, into);
}

function fieldViolations(field: DescField, value: unknown, path: string, into: FieldViolation[]) {
  switch (field.fieldKind) {
    case "list":
      if (!Array.isArray(value)) return;
      for (const [i, element] of value.entries()) elementViolations(field, element, `${path}[${i}]`, into);
      return;
    case "map":
      if (typeof value !== "object" || Array.isArray(value)) return;
      for (const [key, element] of Object.entries(value as Record<string, unknown>)) {
        elementViolations(field, element, `${path}[${JSON.stringify(key)}]`, into);
      }
      return;
    default:
      elementViolations(field, value, path, into);
  }
}

/**
 * Every enum value in the JSON of a `schema` message that names no value of its enum, by its field path (e.g.
 * `statuses[1]`), with the values allowed. The JSON reader keeps unknown fields ignored for forward compatibility,
 * and protobuf-es' option for that also drops unknown enum names silently: `{"status":"ACTIVE"}` would read as
 * "no status". Walks nested messages, lists and maps along the schema; well-known types are not walked into.
 */
export function enumViolations(schema: DescMessage, json: unknown): FieldViolation[] {
  const violations: FieldViolation[] = [];
  if (enumFields(schema).length > 0) messageViolations(schema, json, "", violations);
  return violations;
}
