import { type DescMessage, type Message, ScalarType } from "@bufbuild/protobuf";
import { type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import type { FieldViolation } from "../errors.js";

const NUL = "\u0000";

/** Whether a message holds string fields anywhere inside it (lists, maps and nested messages included). */
const holdsStrings = new WeakMap<DescMessage, boolean>();

function mayHoldStrings(schema: DescMessage): boolean {
  let known = holdsStrings.get(schema);
  if (known === undefined) {
    known = holdsStringsWithin(schema, new Set());
    holdsStrings.set(schema, known);
  }
  return known;
}

function holdsStringsWithin(schema: DescMessage, seen: Set<DescMessage>): boolean {
  // A message already being looked at adds nothing new (recursive types such as google.protobuf.Value).
  if (seen.has(schema)) return false;
  seen.add(schema);
  return schema.fields.some((field) => {
    switch (field.fieldKind) {
      case "scalar":
        return field.scalar === ScalarType.STRING;
      case "list":
        return field.listKind === "scalar"
          ? field.scalar === ScalarType.STRING
          : field.listKind === "message" && holdsStringsWithin(field.message, seen);
      case "map":
        return (
          field.mapKey === ScalarType.STRING ||
          (field.mapKind === "scalar" && field.scalar === ScalarType.STRING) ||
          (field.mapKind === "message" && holdsStringsWithin(field.message, seen))
        );
      case "message":
        return holdsStringsWithin(field.message, seen);
      default:
        return false;
    }
  });
}

function hasNul(value: unknown): boolean {
  return typeof value === "string" && value.includes(NUL);
}

/** The path of the first string (or map key) in `message` that holds a NUL character. */
function nulPath(message: ReflectMessage, path: string): string | undefined {
  for (const field of message.fields) {
    if (!message.isSet(field)) continue;
    const at = path === "" ? field.name : `${path}.${field.name}`;
    switch (field.fieldKind) {
      case "scalar":
        if (hasNul(message.get(field))) return at;
        break;
      case "message": {
        const found = nulPath(message.get(field), at);
        if (found) return found;
        break;
      }
      case "list": {
        let i = 0;
        for (const item of message.get(field)) {
          const found =
            field.listKind === "message"
              ? nulPath(item as ReflectMessage, `${at}[${i}]`)
              : hasNul(item) && `${at}[${i}]`;
          if (found) return found;
          i++;
        }
        break;
      }
      case "map":
        for (const [key, value] of message.get(field)) {
          const entry = `${at}[${JSON.stringify(key)}]`;
          if (hasNul(key)) return at;
          const found = field.mapKind === "message" ? nulPath(value as ReflectMessage, entry) : hasNul(value) && entry;
          if (found) return found;
        }
        break;
      default:
        break;
    }
  }
  return undefined;
}

/**
 * A violation for the first string of a request that holds the NUL character (U+0000): PostgreSQL's text cannot
 * store it, so it is refused on both backends alike, in every field, rather than fail one write with INTERNAL.
 */
export function nulViolation(schema: DescMessage, message: Message): FieldViolation | undefined {
  if (!mayHoldStrings(schema)) return undefined;
  const field = nulPath(reflect(schema, message), "");
  return field === undefined
    ? undefined
    : { field, description: "must not contain the NUL character (U+0000)", reason: "INVALID_CHARACTER" };
}
