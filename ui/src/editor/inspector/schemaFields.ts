// From a node type's JSON Schema (pydantic v2 output) to the fields the parameter form shows.
// Pure: no React, so it is tested without a DOM. Whatever the form cannot express becomes a
// "json" field (a JSON editor), never a silently missing one.

export type JsonSchema = { [key: string]: unknown };

export type Scalar = string | number | boolean | null;

interface FieldBase {
  /** The property name in params (for list items: "0", "1", …; for map values: the key). */
  name: string;
  /** What the label says: the schema's title, else the property name. */
  title: string;
  description?: string;
  required: boolean;
  /** anyOf [X, null]: null is allowed (and means "absent" here). */
  nullable: boolean;
  hasDefault: boolean;
  default?: unknown;
  examples?: unknown[];
  /** Usually filled by an expression (a file from an earlier node, a list): start in that mode. */
  preferExpression?: boolean;
}

export interface StringField extends FieldBase {
  kind: "string";
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  /** A textarea rather than one line: code, bodies, long text. */
  multiline: boolean;
}

export interface NumberField extends FieldBase {
  kind: "number";
  integer: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}

export interface BooleanField extends FieldBase {
  kind: "boolean";
}

export interface EnumField extends FieldBase {
  kind: "enum";
  options: Scalar[];
}

export interface ConstField extends FieldBase {
  kind: "const";
  value: unknown;
}

/** An array of enum values: a group of checkboxes. */
export interface MultiEnumField extends FieldBase {
  kind: "multiEnum";
  options: Scalar[];
  minItems?: number;
  maxItems?: number;
}

export interface ListField extends FieldBase {
  kind: "list";
  item: Field;
  minItems?: number;
  maxItems?: number;
}

export interface ObjectField extends FieldBase {
  kind: "object";
  fields: Field[];
}

/** An object with free keys (additionalProperties / patternProperties): a key/value editor. */
export interface MapField extends FieldBase {
  kind: "map";
  value: Field;
  keyPattern?: string;
  keyMinLength?: number;
  keyMaxLength?: number;
  maxProperties?: number;
}

/** Any value (no type, or a union of types): text with expressions, or JSON. */
export interface AnyField extends FieldBase {
  kind: "any";
  /** The JSON types the value may have, when the schema says (a union); empty: any. */
  types: string[];
}

/** A schema the form cannot express: a JSON editor for the whole value. */
export interface JsonField extends FieldBase {
  kind: "json";
}

export type Field =
  | StringField
  | NumberField
  | BooleanField
  | EnumField
  | ConstField
  | MultiEnumField
  | ListField
  | ObjectField
  | MapField
  | AnyField
  | JsonField;

const MAX_DEPTH = 8;
const MULTILINE_NAMES = /(^|_)(code|text|body|template|content|markdown|html|csv|script|source|sql)$/;

function isObject(value: unknown): value is JsonSchema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function num(value: unknown): number | undefined {
  return typeof value === "number" ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** Follows a local `$ref` (`#/$defs/X`, `#/definitions/X`) against the root schema. */
export function resolveRef(root: JsonSchema, schema: JsonSchema): JsonSchema | undefined {
  const ref = str(schema.$ref);
  if (ref === undefined) return schema;
  if (!ref.startsWith("#/")) return undefined;
  let target: unknown = root;
  for (const raw of ref.slice(2).split("/")) {
    const part = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (!isObject(target)) return undefined;
    target = target[part];
  }
  if (!isObject(target)) return undefined;
  // Keywords beside a $ref (pydantic puts description there) win over the target's.
  const { $ref: _ref, ...beside } = schema;
  return { ...target, ...beside };
}

function isNullSchema(schema: unknown): boolean {
  return isObject(schema) && schema.type === "null";
}

/** Splits `anyOf: [X, {type: null}]` into X and "nullable"; other unions stay as they are. */
function unwrapNullable(schema: JsonSchema): { schema: JsonSchema; nullable: boolean } {
  const union = Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : null;
  if (union) {
    const rest = union.filter((s) => !isNullSchema(s));
    if (rest.length < union.length) {
      const { anyOf: _a, oneOf: _o, ...outer } = schema;
      if (rest.length === 1 && isObject(rest[0])) {
        return { schema: { ...rest[0], ...outer }, nullable: true };
      }
      return { schema: { ...outer, anyOf: rest }, nullable: true };
    }
  }
  if (Array.isArray(schema.type) && schema.type.includes("null")) {
    const types = schema.type.filter((t) => t !== "null");
    return { schema: { ...schema, type: types.length === 1 ? types[0] : types }, nullable: true };
  }
  return { schema, nullable: false };
}

function base(name: string, schema: JsonSchema, required: boolean, nullable: boolean): FieldBase {
  const field: FieldBase = {
    name,
    title: str(schema.title) ?? name,
    required,
    nullable,
    hasDefault: "default" in schema,
  };
  const description = str(schema.description);
  if (description) field.description = description;
  if ("default" in schema) field.default = schema.default;
  if (Array.isArray(schema.examples)) field.examples = schema.examples;
  return field;
}

function isScalar(value: unknown): value is Scalar {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

function typeOf(schema: JsonSchema): string | undefined {
  if (typeof schema.type === "string") return schema.type;
  if (Array.isArray(schema.enum)) {
    const kinds = new Set(schema.enum.map((v) => (v === null ? "null" : typeof v)));
    if (kinds.size === 1) return [...kinds][0] === "number" ? "number" : ([...kinds][0] as string);
  }
  if (isObject(schema.properties)) return "object";
  return undefined;
}

/** The types a union admits, when each branch is a plain typed schema. */
function unionTypes(root: JsonSchema, branches: unknown[]): string[] | null {
  const types: string[] = [];
  for (const raw of branches) {
    if (!isObject(raw)) return null;
    const branch = resolveRef(root, raw);
    if (!branch) return null;
    const t = typeOf(branch);
    if (!t) return null;
    if (!types.includes(t)) types.push(t);
  }
  return types;
}

/** The field for one property (or list item, or map value) of `schema`. */
export function describeField(
  root: JsonSchema,
  name: string,
  raw: JsonSchema,
  required: boolean,
  depth = 0,
  options: { itemTitle?: boolean } = {},
): Field {
  const resolved = resolveRef(root, raw);
  if (!resolved || depth > MAX_DEPTH) {
    return { ...base(name, raw, required, false), kind: "json" };
  }
  const unwrapped = unwrapNullable(resolved);
  const nullable = unwrapped.nullable;
  const schema = resolveRef(root, unwrapped.schema);
  if (!schema) return { ...base(name, raw, required, nullable), kind: "json" };
  // A referenced model's title is its class name ("Blob"): right for a list's items, wrong as
  // the label of a property, which then falls back to its name.
  const viaRef = "$ref" in raw || "$ref" in unwrapped.schema;
  const title = str(raw.title) ?? (viaRef && !options.itemTitle ? undefined : str(schema.title));
  const b = base(name, { ...schema, title: title ?? name }, required, nullable);

  if ("const" in schema) return { ...b, kind: "const", value: schema.const };
  // A Blob (binary data kept in the store) is always the output of an earlier node.
  if (viaRef && schema.title === "Blob") b.preferExpression = true;

  if (Array.isArray(schema.enum) && schema.enum.length > 0 && schema.enum.every(isScalar)) {
    return { ...b, kind: "enum", options: schema.enum.filter(isScalar) };
  }

  const union = Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : null;
  if (union) {
    const types = unionTypes(root, union);
    if (types) return { ...b, kind: "any", types };
    return { ...b, kind: "json" };
  }
  if (schema.allOf || schema.not || schema.if) return { ...b, kind: "json" };

  const type = Array.isArray(schema.type) ? null : typeOf(schema);
  if (Array.isArray(schema.type)) {
    return { ...b, kind: "any", types: schema.type.filter((t): t is string => typeof t === "string") };
  }
  switch (type) {
    case undefined:
      return { ...b, kind: "any", types: [] };
    case "string": {
      const field: StringField = { ...b, kind: "string", multiline: false };
      const minLength = num(schema.minLength);
      const maxLength = num(schema.maxLength);
      const pattern = str(schema.pattern);
      const format = str(schema.format);
      if (minLength !== undefined) field.minLength = minLength;
      if (maxLength !== undefined) field.maxLength = maxLength;
      if (pattern !== undefined) field.pattern = pattern;
      if (format !== undefined) field.format = format;
      field.multiline =
        format === undefined && ((maxLength ?? 0) >= 10_000 || MULTILINE_NAMES.test(name));
      return field;
    }
    case "integer":
    case "number": {
      const field: NumberField = { ...b, kind: "number", integer: type === "integer" };
      for (const key of ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] as const) {
        const value = num(schema[key]);
        if (value !== undefined) field[key] = value;
      }
      return field;
    }
    case "boolean":
      return { ...b, kind: "boolean" };
    case "null":
      return { ...b, kind: "const", value: null };
    case "array":
      return describeArray(root, b, schema, depth);
    case "object":
      return describeObject(root, b, schema, depth);
    default:
      return { ...b, kind: "json" };
  }
}

function describeArray(root: JsonSchema, b: FieldBase, schema: JsonSchema, depth: number): Field {
  if (schema.prefixItems || !isObject(schema.items)) return { ...b, kind: "json" };
  // A list of anything ("the node's input if absent") comes from an expression as a rule.
  if (Object.keys(schema.items).length === 0) return { ...b, kind: "json", preferExpression: true };
  const bounds: { minItems?: number; maxItems?: number } = {};
  const minItems = num(schema.minItems);
  const maxItems = num(schema.maxItems);
  if (minItems !== undefined) bounds.minItems = minItems;
  if (maxItems !== undefined) bounds.maxItems = maxItems;
  const items = resolveRef(root, schema.items);
  if (!items) return { ...b, kind: "json" };
  if (Array.isArray(items.enum) && items.enum.length > 0 && items.enum.every(isScalar)) {
    return { ...b, ...bounds, kind: "multiEnum", options: items.enum.filter(isScalar) };
  }
  const item = describeField(root, "item", schema.items, true, depth + 1, { itemTitle: true });
  // A list of free values or of lists is clearer as JSON than as nested rows.
  if (item.kind === "any" || item.kind === "json" || item.kind === "list" || item.kind === "map") {
    if (item.kind === "any" && item.types.length > 0 && item.types.every((t) => t !== "object" && t !== "array")) {
      return { ...b, ...bounds, kind: "list", item };
    }
    return { ...b, kind: "json" };
  }
  return { ...b, ...bounds, kind: "list", item };
}

function describeObject(root: JsonSchema, b: FieldBase, schema: JsonSchema, depth: number): Field {
  const properties = isObject(schema.properties) ? schema.properties : {};
  const extra = schema.additionalProperties;
  const patterns = isObject(schema.patternProperties) ? schema.patternProperties : {};
  const patternKeys = Object.keys(patterns);
  const hasFreeKeys = (extra !== undefined && extra !== false) || patternKeys.length > 0;

  if (Object.keys(properties).length > 0) {
    // Fixed properties and free keys at once: only JSON can say both.
    if (hasFreeKeys && extra !== true) return { ...b, kind: "json" };
    return { ...b, kind: "object", fields: describeProperties(root, schema, depth + 1) };
  }
  if (patternKeys.length > 1) return { ...b, kind: "json" };

  let valueSchema: JsonSchema = {};
  let keyPattern: string | undefined;
  if (patternKeys.length === 1) {
    const key = patternKeys[0] as string;
    keyPattern = key;
    valueSchema = isObject(patterns[key]) ? (patterns[key] as JsonSchema) : {};
  } else if (isObject(extra)) {
    valueSchema = extra;
  }
  const field: MapField = {
    ...b,
    kind: "map",
    value: describeField(root, "value", valueSchema, true, depth + 1),
  };
  if (keyPattern !== undefined) field.keyPattern = keyPattern;
  const names = isObject(schema.propertyNames) ? schema.propertyNames : {};
  const keyMin = num(names.minLength);
  const keyMax = num(names.maxLength);
  const namePattern = str(names.pattern);
  if (keyMin !== undefined) field.keyMinLength = keyMin;
  if (keyMax !== undefined) field.keyMaxLength = keyMax;
  if (namePattern !== undefined && field.keyPattern === undefined) field.keyPattern = namePattern;
  const maxProperties = num(schema.maxProperties);
  if (maxProperties !== undefined) field.maxProperties = maxProperties;
  return field;
}

function describeProperties(root: JsonSchema, schema: JsonSchema, depth: number): Field[] {
  const properties = isObject(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required : [];
  return Object.entries(properties).map(([name, prop]) =>
    describeField(root, name, isObject(prop) ? prop : {}, required.includes(name), depth),
  );
}

/** The fields of a node type's parameters: one per property of its input schema. */
export function describeSchema(schema: JsonSchema | null | undefined): Field[] {
  if (!schema) return [];
  const root = resolveRef(schema, schema) ?? schema;
  return describeProperties(schema, root, 0);
}
