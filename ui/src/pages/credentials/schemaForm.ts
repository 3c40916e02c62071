// A credential's JSON Schema (a connector's `credentialSchema`) as a form: simple fields
// (text, number, boolean, choice), a choice of variants for a discriminated union (as the
// HTTP connector's basic / bearer / api_key / oauth2), or raw JSON for anything else.
import { resolveRef } from "../../editor/inspector/schemaFields";

export type JsonSchema = {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  format?: string;
  writeOnly?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  definitions?: Record<string, JsonSchema>;
  discriminator?: { propertyName: string; mapping?: Record<string, string> };
};

export type FieldKind = "text" | "number" | "integer" | "boolean" | "choice";

export interface FormField {
  name: string;
  label: string;
  description?: string;
  kind: FieldKind;
  /** Typed in a password input: never shown on screen. */
  secret: boolean;
  required: boolean;
  options?: string[];
  defaultValue?: string | number | boolean;
  maxLength?: number;
}

export interface Variant {
  value: string;
  label: string;
  description?: string;
  fields: FormField[];
}

export type CredentialForm =
  | { kind: "fields"; fields: FormField[]; fixed: Record<string, unknown> }
  | { kind: "variants"; discriminator: string; variants: Variant[] }
  | { kind: "json" };

/** Names that hold a secret, whatever their schema says. */
const SECRET_NAME = /(^|[_-])(password|passwd|passphrase|secret|token|api_?key|private_?key|key)$/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** Follows `$ref`s (a chain of them, at most 10 long) with the node inspector's resolver. */
function resolve(schema: JsonSchema, root: JsonSchema): JsonSchema {
  let current = schema;
  for (let depth = 0; current.$ref && depth < 10; depth++) {
    const found = resolveRef(root, current);
    if (!found) return current;
    current = found as JsonSchema;
  }
  return current;
}

/** `X | null` (pydantic's Optional) as X. */
function unwrapNullable(schema: JsonSchema, root: JsonSchema): JsonSchema {
  const choices = schema.anyOf ?? schema.oneOf;
  if (!choices) return schema;
  const real = choices.filter((c) => c.type !== "null");
  if (real.length !== 1 || !real[0]) return schema;
  const { anyOf: _a, oneOf: _o, ...rest } = schema;
  return { ...resolve(real[0], root), ...rest };
}

function typeOf(schema: JsonSchema): string | undefined {
  if (Array.isArray(schema.type)) return schema.type.find((t) => t !== "null");
  return schema.type;
}

function scalarDefault(value: unknown): string | number | boolean | undefined {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean"
    ? value
    : undefined;
}

/** One property as a field; null when it is too complex for a simple form. */
export function fieldOf(name: string, raw: JsonSchema, required: boolean, root: JsonSchema): FormField | null {
  const schema = unwrapNullable(resolve(raw, root), root);
  const base = {
    name,
    label: schema.title ?? name,
    description: schema.description,
    required,
    defaultValue: scalarDefault(schema.default),
    maxLength: schema.maxLength,
    secret: schema.format === "password" || schema.writeOnly === true || isSecretName(name),
  };
  if (schema.enum) {
    if (!schema.enum.every((v) => typeof v === "string")) return null;
    return { ...base, kind: "choice", options: schema.enum as string[], secret: false };
  }
  switch (typeOf(schema)) {
    case "string":
      return { ...base, kind: "text" };
    case "number":
      return { ...base, kind: "number" };
    case "integer":
      return { ...base, kind: "integer" };
    case "boolean":
      return { ...base, kind: "boolean", secret: false };
    default:
      return null;
  }
}

function objectForm(schema: JsonSchema, root: JsonSchema, skip?: string): { fields: FormField[]; fixed: Record<string, unknown> } | null {
  if (typeOf(schema) !== "object" && !schema.properties) return null;
  const required = new Set(schema.required ?? []);
  const fields: FormField[] = [];
  const fixed: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    if (name === skip) continue;
    const resolved = resolve(prop, root);
    if (resolved.const !== undefined) {
      fixed[name] = resolved.const;
      continue;
    }
    const field = fieldOf(name, prop, required.has(name), root);
    if (!field) return null;
    fields.push(field);
  }
  return { fields, fixed };
}

function variantsOf(schema: JsonSchema, root: JsonSchema): CredentialForm | null {
  const choices = schema.oneOf ?? schema.anyOf;
  if (!choices || choices.length < 2) return null;
  const options = choices.map((c) => resolve(c, root));
  // the discriminator: named by the schema, or the one property every choice fixes
  const candidates = schema.discriminator
    ? [schema.discriminator.propertyName]
    : Object.keys(options[0]?.properties ?? {});
  const key = candidates.find((name) =>
    options.every((o) => {
      const prop = o.properties?.[name];
      return prop !== undefined && typeof resolve(prop, root).const === "string";
    }),
  );
  if (!key) return null;
  const variants: Variant[] = [];
  for (const option of options) {
    const tag = resolve(option.properties?.[key] ?? {}, root);
    const form = objectForm(option, root, key);
    if (!form || Object.keys(form.fixed).length > 0) return null;
    variants.push({
      value: String(tag.const),
      label: tag.description ?? option.title ?? String(tag.const),
      description: option.description,
      fields: form.fields,
    });
  }
  return { kind: "variants", discriminator: key, variants };
}

export function formOf(schema: JsonSchema | null | undefined): CredentialForm {
  if (!schema) return { kind: "json" };
  const root = schema;
  const top = resolve(schema, root);
  const variants = variantsOf(top, root);
  if (variants) return variants;
  const object = objectForm(top, root);
  if (object) return { kind: "fields", ...object };
  return { kind: "json" };
}

export type FormValues = Record<string, string | boolean>;

export type Built =
  | { ok: true; data: Record<string, unknown> }
  | { ok: false; errors: Record<string, string> };

/** The typed values as the credential's `data`; empty optional fields are left out. */
export function buildData(fields: FormField[], values: FormValues, fixed: Record<string, unknown> = {}): Built {
  const data: Record<string, unknown> = { ...fixed };
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const value = values[field.name];
    if (field.kind === "boolean") {
      if (typeof value === "boolean") data[field.name] = value;
      else if (field.required) data[field.name] = field.defaultValue === true;
      continue;
    }
    const text = typeof value === "string" ? value : "";
    if (text === "") {
      if (field.required) errors[field.name] = "required";
      continue;
    }
    if (field.kind === "number" || field.kind === "integer") {
      const number = Number(text);
      if (!Number.isFinite(number)) errors[field.name] = "not a number";
      else if (field.kind === "integer" && !Number.isInteger(number)) errors[field.name] = "not a whole number";
      else data[field.name] = number;
      continue;
    }
    data[field.name] = text;
  }
  return Object.keys(errors).length ? { ok: false, errors } : { ok: true, data };
}

/** The starting values: defaults of the non-secret fields (secrets always start empty). */
export function initialValues(fields: FormField[]): FormValues {
  const values: FormValues = {};
  for (const field of fields) {
    if (field.kind === "boolean") values[field.name] = field.defaultValue === true;
    else if (!field.secret && field.defaultValue !== undefined) values[field.name] = String(field.defaultValue);
    else values[field.name] = "";
  }
  return values;
}

/**
 * The form field a server error is about: named in its field ("body.data.password"), or in
 * its message ("does not fit http: api_key.header: String should match …" → "header").
 */
export function dataField(field: string, message = "", names: readonly string[] = []): string | null {
  const match = /^(?:body\.)?data\.([^.[\]]+)/.exec(field);
  if (match?.[1]) return match[1];
  for (const part of message.split(": ")) {
    const last = part.trim().split(/\s+/).pop()?.split(".").pop();
    if (last && names.includes(last)) return last;
  }
  return null;
}
