// The node's own settings (not its parameters): the bounds of src/flowforge/model/_workflow.py,
// and the checks of a node id on rename. Pure, for tests without a DOM.
import type { NumberField } from "./schemaFields";

/** ID_PATTERN of the workflow model. */
export const NODE_ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;

export type Bounds = Pick<NumberField, "title" | "integer" | "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum"> & {
  default?: number;
  hint: string;
};

export type RetryKey = "max_attempts" | "initial_s" | "multiplier" | "max_s" | "jitter";

/** RetryPolicy: its fields in the order the form shows them. */
export const RETRY_FIELDS: Record<RetryKey, Bounds> = {
  max_attempts: { title: "Max attempts", integer: true, minimum: 1, maximum: 100, default: 3, hint: "Attempts in all, the first included" },
  initial_s: { title: "Initial delay (seconds)", integer: false, minimum: 0, maximum: 86_400, default: 1, hint: "Delay before the second attempt" },
  multiplier: { title: "Multiplier", integer: false, minimum: 1, maximum: 100, default: 2, hint: "Growth of the delay per attempt" },
  max_s: { title: "Max delay (seconds)", integer: false, minimum: 0, maximum: 86_400, default: 60, hint: "Upper bound of any one delay" },
  jitter: { title: "Jitter", integer: false, minimum: 0, maximum: 1, default: 0.2, hint: "Fraction of each delay drawn at random (0 to 1)" },
};

export const RETRY_DEFAULTS: Record<RetryKey, number> = {
  max_attempts: 3,
  initial_s: 1,
  multiplier: 2,
  max_s: 60,
  jitter: 0.2,
};

export const TIMEOUT: Bounds = {
  title: "Timeout (seconds)",
  integer: false,
  exclusiveMinimum: 0,
  maximum: 2_678_400,
  hint: "Time limit of one attempt; none when empty",
};

export const CONCURRENCY: Bounds = {
  title: "Concurrency",
  integer: true,
  minimum: 1,
  maximum: 1000,
  default: 1,
  hint: "Items of for_each run at once",
};

export const ON_ERROR = [
  { value: "fail", label: "fail", hint: "The run fails; other running branches are cancelled and the error trigger fires." },
  { value: "continue", label: "continue", hint: 'The run goes on: the node outputs {"error": {message, type, node, attempts}} on its main port.' },
  { value: "route", label: "route", hint: 'Adds an "error" port: the error object goes out of it and main is dead.' },
] as const;

export const TRIGGER_RULES = [
  { value: "all", label: "all", hint: "Runs when every incoming edge delivered; skipped when any is dead." },
  { value: "any", label: "any", hint: "Runs when at least one incoming edge delivered." },
  { value: "always", label: "always", hint: "Runs once every incoming edge is resolved, delivered or dead." },
] as const;

/** Why `candidate` cannot be the node's new id, or null when it can. */
export function checkNodeId(candidate: string, currentId: string, ids: Iterable<string>): string | null {
  if (candidate === "") return "Node id is required.";
  if (!NODE_ID_PATTERN.test(candidate)) {
    return "Node id starts with a letter or _ and holds only letters, digits, _ and - (at most 128 characters).";
  }
  if (candidate !== currentId) {
    for (const id of ids) if (id === candidate) return `Another node already has the id "${candidate}".`;
  }
  return null;
}

/** A number typed in a settings field: empty, a number, or not a number at all. */
export function parseNumber(text: string): { empty: true } | { empty: false; value: number } | null {
  const trimmed = text.trim();
  if (trimmed === "") return { empty: true };
  const value = Number(trimmed);
  return Number.isFinite(value) ? { empty: false, value } : null;
}
