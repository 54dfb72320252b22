import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type PropertyValue, PropertyValueSchema } from "../../gen/liveops/v1/player_service_pb.js";
import type { FieldViolation } from "../errors.js";
import { timestampFromStoredMs, timestampToMs } from "../timestamps.js";

/** Properties a player has at most. */
export const PROPERTIES_MAX = 64;
/** The longest string value. */
export const STRING_VALUE_MAX = 256;
/** A property name: an identifier, so that expressions read it as `player.properties.name`. */
const PROPERTY_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** A property value as stored (JSON): one key says its type. */
export type StoredValue = { s: string } | { n: number } | { b: boolean } | { t: number };
/** A player's properties as stored, by name. */
export type StoredProperties = Record<string, StoredValue>;

/** Violations of a property name given at `field`. */
export function checkPropertyName(name: string, field: string): FieldViolation[] {
  if (PROPERTY_NAME.test(name)) return [];
  return [
    {
      field,
      description: `"${name.slice(0, 80)}" is not a property name: 1 to 64 letters, digits and '_', not starting with a digit`,
      reason: "INVALID_FORMAT",
    },
  ];
}

/** The stored form of a value given at `field`, or undefined with violations. */
export function storedValueOf(
  value: PropertyValue,
  field: string,
  violations: FieldViolation[],
): StoredValue | undefined {
  const kind = value.kind;
  switch (kind.case) {
    case "stringValue":
      if (kind.value.includes("\u0000")) {
        violations.push({
          field,
          description: "must not contain the NUL character (U+0000)",
          reason: "INVALID_CHARACTER",
        });
        return undefined;
      }
      if ([...kind.value].length > STRING_VALUE_MAX) {
        violations.push({ field, description: `must be at most ${STRING_VALUE_MAX} characters`, reason: "TOO_LONG" });
        return undefined;
      }
      return { s: kind.value };
    case "numberValue":
      if (!Number.isFinite(kind.value)) {
        violations.push({ field, description: "must be a finite number", reason: "NOT_FINITE" });
        return undefined;
      }
      return { n: kind.value };
    case "boolValue":
      return { b: kind.value };
    case "timestampValue": {
      const ms = timestampToMs(kind.value, field, violations);
      return ms === undefined ? undefined : { t: ms };
    }
    default:
      violations.push({
        field,
        description: "must hold a value (string, number, bool or timestamp)",
        reason: "REQUIRED",
      });
      return undefined;
  }
}

/** The API message of a stored value. */
export function valueToMessage(value: StoredValue): PropertyValue {
  if ("s" in value) return create(PropertyValueSchema, { kind: { case: "stringValue", value: value.s } });
  if ("n" in value) return create(PropertyValueSchema, { kind: { case: "numberValue", value: value.n } });
  if ("b" in value) return create(PropertyValueSchema, { kind: { case: "boolValue", value: value.b } });
  return create(PropertyValueSchema, { kind: { case: "timestampValue", value: timestampFromStoredMs(value.t) } });
}

/** A stored value as an expression sees it (a timestamp is a Date). */
export function valueToExpression(value: StoredValue): string | number | boolean | Date {
  if ("s" in value) return value.s;
  if ("n" in value) return value.n;
  if ("b" in value) return value.b;
  return new Date(value.t);
}

/** A stored value as plain JSON, for the audit log. */
export function valueToAuditJson(value: StoredValue): string | number | boolean {
  if ("t" in value) return timestampDate(timestampFromStoredMs(value.t)).toISOString();
  return "s" in value ? value.s : "n" in value ? value.n : value.b;
}
