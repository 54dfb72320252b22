import {
  type AnyDesc,
  type DescEnum,
  type DescField,
  type DescFile,
  type DescMessage,
  ScalarType,
} from "@bufbuild/protobuf";

/** A JSON Schema (2020-12, the dialect of OpenAPI 3.1) as plain data. */
export type JsonSchema = { [keyword: string]: unknown };

/** The leading comment of a descriptor as a description, or undefined when it has none. */
export type CommentsOf = (desc: Exclude<AnyDesc, DescFile>) => string | undefined;

/** Where a message or enum schema lives in the document. */
export const schemaRef = (typeName: string) => `#/components/schemas/${typeName}`;

const int64Pattern = "^-?[0-9]+$";
const uint64Pattern = "^[0-9]+$";

/**
 * Scalars as the proto3 JSON mapping has them. 64-bit integers are written as strings (a double would lose digits)
 * and read from strings or numbers; floats also take the strings NaN, Infinity and -Infinity.
 */
function scalarSchema(scalar: ScalarType): JsonSchema {
  switch (scalar) {
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return {
        anyOf: [
          { type: "number", format: scalar === ScalarType.DOUBLE ? "double" : "float" },
          { type: "string", enum: ["NaN", "Infinity", "-Infinity"] },
        ],
      };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", minimum: 0, maximum: 4294967295 };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { type: ["string", "integer"], format: "int64", pattern: int64Pattern };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: ["string", "integer"], minimum: 0, pattern: uint64Pattern };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
  }
}

/** The well-known types with a JSON form of their own (proto3 JSON mapping), inlined where they are used. */
const wellKnownSchemas: Record<string, () => JsonSchema> = {
  "google.protobuf.Timestamp": () => ({ type: "string", format: "date-time" }),
  "google.protobuf.Duration": () => ({
    type: "string",
    pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$",
    examples: ["3.5s", "7200s"],
  }),
  "google.protobuf.FieldMask": () => ({
    type: "string",
    description: "Field paths in camelCase, separated by commas, e.g. `title,startTime`.",
  }),
  "google.protobuf.Struct": () => ({ type: "object" }),
  "google.protobuf.Value": () => ({ description: "Any JSON value." }),
  "google.protobuf.ListValue": () => ({ type: "array" }),
  "google.protobuf.Empty": () => ({ type: "object" }),
  "google.protobuf.Any": () => ({ type: "object", required: ["@type"], properties: { "@type": { type: "string" } } }),
  "google.protobuf.DoubleValue": () => scalarSchema(ScalarType.DOUBLE),
  "google.protobuf.FloatValue": () => scalarSchema(ScalarType.FLOAT),
  "google.protobuf.Int64Value": () => scalarSchema(ScalarType.INT64),
  "google.protobuf.UInt64Value": () => scalarSchema(ScalarType.UINT64),
  "google.protobuf.Int32Value": () => scalarSchema(ScalarType.INT32),
  "google.protobuf.UInt32Value": () => scalarSchema(ScalarType.UINT32),
  "google.protobuf.BoolValue": () => scalarSchema(ScalarType.BOOL),
  "google.protobuf.StringValue": () => scalarSchema(ScalarType.STRING),
  "google.protobuf.BytesValue": () => scalarSchema(ScalarType.BYTES),
};

/** Whether a message is written inline (its own JSON form) rather than as a component. */
export const isWellKnown = (message: DescMessage) => message.typeName in wellKnownSchemas;

function messageTypeSchema(message: DescMessage): JsonSchema {
  const wellKnown = wellKnownSchemas[message.typeName];
  return wellKnown ? wellKnown() : { $ref: schemaRef(message.typeName) };
}

function enumTypeSchema(desc: DescEnum): JsonSchema {
  return desc.typeName === "google.protobuf.NullValue" ? { type: "null" } : { $ref: schemaRef(desc.typeName) };
}

/** The schema of one value of a field (an element, for lists and maps). */
function valueSchema(field: DescField): JsonSchema {
  switch (field.fieldKind) {
    case "scalar":
      return scalarSchema(field.scalar);
    case "enum":
      return enumTypeSchema(field.enum);
    case "message":
      return messageTypeSchema(field.message);
    case "list":
      if (field.listKind === "scalar") return scalarSchema(field.scalar);
      return field.listKind === "enum" ? enumTypeSchema(field.enum) : messageTypeSchema(field.message);
    case "map":
      if (field.mapKind === "scalar") return scalarSchema(field.scalar);
      return field.mapKind === "enum" ? enumTypeSchema(field.enum) : messageTypeSchema(field.message);
  }
}

/** Map keys are always JSON strings; non-string keys are their decimal or boolean text. */
function mapKeySchema(key: ScalarType): JsonSchema | undefined {
  if (key === ScalarType.STRING) return undefined;
  if (key === ScalarType.BOOL) return { enum: ["true", "false"] };
  return { pattern: key === ScalarType.UINT32 || key === ScalarType.UINT64 ? uint64Pattern : int64Pattern };
}

/** The schema of a field, with its comment as description. */
export function fieldSchema(field: DescField, commentsOf: CommentsOf): JsonSchema {
  let schema: JsonSchema;
  if (field.fieldKind === "list") schema = { type: "array", items: valueSchema(field) };
  else if (field.fieldKind === "map") {
    const keys = mapKeySchema(field.mapKey);
    schema = { type: "object", ...(keys && { propertyNames: keys }), additionalProperties: valueSchema(field) };
  } else schema = valueSchema(field);
  // A well-known type's own note (e.g. a FieldMask's format) follows the field's comment.
  const { description: note, ...rest } = schema;
  const description = [commentsOf(field), note].filter((text) => text !== undefined).join("\n\n");
  return description === "" ? rest : { description, ...rest };
}

/**
 * A message as the proto3 JSON mapping writes it: camelCase names, every field optional on input. Each real oneof
 * becomes a `oneOf` of "this member is set" branches plus a "none is set" branch, so at most one member validates.
 * Unknown properties are not forbidden: the server ignores them, so that older servers accept newer clients.
 */
export function messageSchema(message: DescMessage, commentsOf: CommentsOf): JsonSchema {
  const properties: JsonSchema = {};
  for (const field of message.fields) properties[field.jsonName] = fieldSchema(field, commentsOf);
  const groups = message.oneofs.map((oneof) => {
    const members = oneof.fields.map((field) => ({ required: [field.jsonName] }));
    return { oneOf: [...members, { not: { anyOf: members } }] };
  });
  const description = [
    commentsOf(message),
    ...message.oneofs.map(
      (oneof) => `At most one of ${oneof.fields.map((f) => `\`${f.jsonName}\``).join(", ")} (oneof \`${oneof.name}\`).`,
    ),
  ]
    .filter((line) => line !== undefined)
    .join("\n\n");
  return {
    ...(description !== "" && { description }),
    type: "object",
    properties,
    ...(groups.length === 1 ? groups[0] : groups.length > 1 ? { allOf: groups } : {}),
  };
}

/**
 * An enum by value name, as the server writes it; requests may also give the value's number (proto3 JSON mapping).
 */
export function enumSchema(desc: DescEnum, commentsOf: CommentsOf): JsonSchema {
  const described = desc.values.map((value) => {
    const comment = commentsOf(value);
    return comment === undefined ? `- \`${value.name}\`` : `- \`${value.name}\`: ${comment.replace(/\s*\n\s*/g, " ")}`;
  });
  const description = [commentsOf(desc), described.join("\n")].filter((part) => part !== undefined).join("\n\n");
  return {
    description,
    anyOf: [
      { type: "string", enum: desc.values.map((value) => value.name) },
      {
        type: "integer",
        enum: desc.values.map((value) => value.number),
        description: "The value's number (input only).",
      },
    ],
  };
}

/** The messages and enums a set of messages refers to, themselves included, in first-seen order. */
export function reachableTypes(roots: DescMessage[]): { messages: DescMessage[]; enums: DescEnum[] } {
  const messages = new Map<string, DescMessage>();
  const enums = new Map<string, DescEnum>();
  const visit = (message: DescMessage) => {
    if (messages.has(message.typeName) || isWellKnown(message)) return;
    messages.set(message.typeName, message);
    for (const field of message.fields) {
      if (field.message) visit(field.message);
      const named = field.enum;
      if (named && named.typeName !== "google.protobuf.NullValue") enums.set(named.typeName, named);
    }
  };
  for (const root of roots) visit(root);
  return { messages: [...messages.values()], enums: [...enums.values()] };
}
