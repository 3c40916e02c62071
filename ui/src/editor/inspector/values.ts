// Parameter values: what counts as empty (and is left out of params), and the checks the form
// makes before the server checks again on save. Pure, for tests without a DOM.
import type { Field, NumberField, StringField } from "./schemaFields";

export type Params = Record<string, unknown>;

/** A string the engine evaluates: it holds `{{`. The server checks those at run time only. */
export function isExpression(value: unknown): value is string {
  return typeof value === "string" && value.includes("{{");
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Nothing typed: absent, null, "", [] or {}. Such a value is not saved. */
export function isEmptyValue(value: unknown): boolean {
  if (value === undefined || value === null || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  if (isPlainObject(value)) return Object.keys(value).length === 0;
  return false;
}

/** `object` with `name` set to `value`, or without `name` when the value is empty. */
export function withField(
  object: Record<string, unknown> | undefined,
  name: string,
  value: unknown,
): Record<string, unknown> {
  const next = { ...(object ?? {}) };
  if (isEmptyValue(value)) delete next[name];
  else next[name] = value;
  return next;
}

/** Drops empty values at every depth (objects only; list items keep their places). */
export function pruneEmpty(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pruneEmpty);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      const pruned = pruneEmpty(inner);
      if (!isEmptyValue(pruned)) out[key] = pruned;
    }
    return out;
  }
  return value;
}

/** What the user typed in a JSON editor: the value, or why it is not JSON. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  if (text.trim() === "") return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, error: `Not valid JSON: ${reason}` };
  }
}

export function formatJson(value: unknown): string {
  return value === undefined ? "" : JSON.stringify(value, null, 2);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function checkString(field: StringField, value: string): string | null {
  const { title } = field;
  // Counted in code points, as pydantic counts them.
  const length = [...value].length;
  if (field.minLength !== undefined && length < field.minLength) {
    return `${title} needs at least ${plural(field.minLength, "character")}.`;
  }
  if (field.maxLength !== undefined && length > field.maxLength) {
    return `${title} takes at most ${plural(field.maxLength, "character")}.`;
  }
  if (field.pattern !== undefined) {
    let re: RegExp | null = null;
    try {
      re = new RegExp(field.pattern, "u");
    } catch {
      re = null; // a Python-only pattern: the server checks it
    }
    if (re && !re.test(value)) return `${title} does not match the pattern ${field.pattern}.`;
  }
  if (field.format === "date-time" && Number.isNaN(Date.parse(value))) {
    return `${title} is not an ISO 8601 date and time (e.g. 2025-01-31T09:00:00Z).`;
  }
  if ((field.format === "uri" || field.format === "url") && !/^[a-z][a-z0-9+.-]*:/i.test(value)) {
    return `${title} is not a URL.`;
  }
  return null;
}

/** The bounds of a number as words: "between 1 and 100", "more than 0 and at most 300". */
export function describeBounds(field: Pick<NumberField, "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum">): string {
  const low =
    field.exclusiveMinimum !== undefined
      ? `more than ${field.exclusiveMinimum}`
      : field.minimum !== undefined
        ? `at least ${field.minimum}`
        : null;
  const high =
    field.exclusiveMaximum !== undefined
      ? `less than ${field.exclusiveMaximum}`
      : field.maximum !== undefined
        ? `at most ${field.maximum}`
        : null;
  if (field.minimum !== undefined && field.maximum !== undefined && !field.exclusiveMinimum && !field.exclusiveMaximum) {
    return `between ${field.minimum} and ${field.maximum}`;
  }
  return [low, high].filter(Boolean).join(" and ");
}

/** Checks a number against a field's bounds; the message names the field. */
export function checkNumber(
  field: Pick<NumberField, "title" | "integer" | "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum">,
  value: number,
): string | null {
  if (!Number.isFinite(value)) return `${field.title} must be a number.`;
  if (field.integer && !Number.isInteger(value)) return `${field.title} must be a whole number.`;
  const outside =
    (field.minimum !== undefined && value < field.minimum) ||
    (field.maximum !== undefined && value > field.maximum) ||
    (field.exclusiveMinimum !== undefined && value <= field.exclusiveMinimum) ||
    (field.exclusiveMaximum !== undefined && value >= field.exclusiveMaximum);
  return outside ? `${field.title} must be ${describeBounds(field)}.` : null;
}

/**
 * The first problem with a field's value, as a sentence naming the field, or null.
 * A missing required value is reported only when `touched` (no red form before any typing).
 */
export function checkField(field: Field, value: unknown, touched = true): string | null {
  if (isEmptyValue(value)) {
    return field.required && touched && !field.hasDefault ? `${field.title} is required.` : null;
  }
  if (isExpression(value)) return null;
  switch (field.kind) {
    case "string":
      return typeof value === "string" ? checkString(field, value) : `${field.title} must be text.`;
    case "number":
      return typeof value === "number" ? checkNumber(field, value) : `${field.title} must be a number.`;
    case "boolean":
      return typeof value === "boolean" ? null : `${field.title} must be true or false.`;
    case "enum":
      return field.options.includes(value as never)
        ? null
        : `${field.title} must be one of ${field.options.map(String).join(", ")}.`;
    case "multiEnum":
    case "list": {
      if (!Array.isArray(value)) return `${field.title} must be a list.`;
      if (field.minItems !== undefined && value.length < field.minItems) {
        return `${field.title} needs at least ${plural(field.minItems, "item")}.`;
      }
      if (field.maxItems !== undefined && value.length > field.maxItems) {
        return `${field.title} takes at most ${plural(field.maxItems, "item")}.`;
      }
      return null;
    }
    case "map": {
      if (!isPlainObject(value)) return `${field.title} must be an object.`;
      if (field.maxProperties !== undefined && Object.keys(value).length > field.maxProperties) {
        return `${field.title} takes at most ${plural(field.maxProperties, "key")}.`;
      }
      for (const key of Object.keys(value)) {
        const problem = checkKey(field, key);
        if (problem) return problem;
      }
      return null;
    }
    case "object":
      return isPlainObject(value) ? null : `${field.title} must be an object.`;
    default:
      return null;
  }
}

/** A key of a map field: its name rules (propertyNames / patternProperties). */
export function checkKey(
  field: { title: string; keyPattern?: string; keyMinLength?: number; keyMaxLength?: number },
  key: string,
): string | null {
  if (key === "") return `A key of ${field.title} is empty.`;
  if (field.keyMaxLength !== undefined && key.length > field.keyMaxLength) {
    return `The key "${key}" of ${field.title} is longer than ${field.keyMaxLength} characters.`;
  }
  if (field.keyPattern !== undefined) {
    let re: RegExp | null = null;
    try {
      re = new RegExp(field.keyPattern, "u");
    } catch {
      re = null;
    }
    if (re && !re.test(key)) return `The key "${key}" of ${field.title} is not allowed here.`;
  }
  return null;
}

/** The value a new list item or object starts with. */
export function initialValue(field: Field): unknown {
  if (field.hasDefault && field.default !== null) return field.default;
  switch (field.kind) {
    case "object": {
      let value: Record<string, unknown> = {};
      for (const inner of field.fields) {
        if (inner.kind === "const") value = withField(value, inner.name, inner.value);
      }
      return value;
    }
    case "boolean":
      return false;
    case "enum":
      return field.required ? field.options[0] : undefined;
    default:
      return undefined;
  }
}
