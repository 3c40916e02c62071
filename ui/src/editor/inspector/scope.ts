// The names an expression of one node can use (DESIGN: trigger, input, nodes.<id>.output, vars,
// execution, item/index under for_each), with the values they had in the workflow's last run,
// so the completions can offer their keys too. Pure, for tests without a DOM.
import type { Execution, Frame } from "../../api/types";
import { isIdentifier } from "./expressions";

export interface ScopeEntry {
  /** What the completion list says about it: a short description or the last run's value. */
  detail: string;
  /** The value in the last run, when one is known. */
  value?: unknown;
  known: boolean;
  /** Names below it that are there whatever the value (nodes.<id>, execution.id, …). */
  children?: Record<string, ScopeEntry>;
}

export type Scope = Record<string, ScopeEntry>;

export interface Completion {
  name: string;
  detail: string;
  /** It has names below it: choosing it and typing "." goes on. */
  more: boolean;
}

/** The nodes a node can read `nodes.<id>.output` of: every node upstream of it, nearest first. */
/** What scoping reads of a workflow: its edges (ports do not matter here) and vars. */
export interface ScopeGraph {
  edges?: readonly { source: string; target: string; source_port?: string }[] | null;
  vars?: Record<string, unknown> | null;
}

export function upstreamOf(workflow: ScopeGraph, nodeId: string): string[] {
  const sourcesOf = new Map<string, string[]>();
  for (const edge of workflow.edges ?? []) {
    const list = sourcesOf.get(edge.target) ?? [];
    list.push(edge.source);
    sourcesOf.set(edge.target, list);
  }
  const seen = new Set<string>([nodeId]);
  const order: string[] = [];
  let frontier = [nodeId];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const id of frontier) {
      for (const source of sourcesOf.get(id) ?? []) {
        if (seen.has(source)) continue;
        seen.add(source);
        order.push(source);
        next.push(source);
      }
    }
    frontier = next;
  }
  return order;
}

function framesOf(run: Pick<Execution, "frames"> | null | undefined, nodeId: string): Frame[] {
  return (run?.frames ?? []).filter((f) => f.nodeId === nodeId);
}

/** A node's output in a run: its last completed frame (the whole node's, before one item's). */
export function lastOutput(run: Pick<Execution, "frames"> | null | undefined, nodeId: string): { known: boolean; value?: unknown } {
  const completed = framesOf(run, nodeId).filter((f) => f.status === "completed");
  const whole = completed.filter((f) => f.item === null || f.item === undefined);
  const frame = (whole.length > 0 ? whole : completed).at(-1);
  return frame ? { known: true, value: frame.output } : { known: false };
}

/** A node's input in a run: what its started frame received. */
export function startedInput(run: Pick<Execution, "frames"> | null | undefined, nodeId: string): { known: boolean; value?: unknown } {
  const started = framesOf(run, nodeId).filter((f) => f.status === "started");
  const frame = started.find((f) => f.item === null || f.item === undefined || f.item === 0) ?? started[0];
  return frame ? { known: true, value: frame.input } : { known: false };
}

/** A value in a few words: `text "abc"`, `object, 3 keys`, `list, 5 items`. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `list, ${value.length} item${value.length === 1 ? "" : "s"}`;
  switch (typeof value) {
    case "string": {
      const text = value.length > 40 ? `${value.slice(0, 39)}…` : value;
      return `text ${JSON.stringify(text)}`;
    }
    case "number":
    case "boolean":
      return `${typeof value} ${String(value)}`;
    case "object": {
      const n = Object.keys(value as object).length;
      return `object, ${n} key${n === 1 ? "" : "s"}`;
    }
    default:
      return typeof value;
  }
}

function entry(description: string, found: { known: boolean; value?: unknown }, children?: Record<string, ScopeEntry>): ScopeEntry {
  const e: ScopeEntry = found.known
    ? { detail: `${description} · ${describeValue(found.value)}`, value: found.value, known: true }
    : { detail: description, known: false };
  if (children) e.children = children;
  return e;
}

export interface ScopeInput {
  workflow: ScopeGraph;
  nodeId: string;
  /** The node has a for_each: `item` and `index` are in scope. */
  forEach: boolean;
  lastRun: Pick<Execution, "id" | "input" | "startedAt" | "frames"> | null;
  /** One item of the for_each list in the last run, when known (item's keys). */
  itemSample?: { known: boolean; value?: unknown };
}

/** The names in scope for one node's expressions. */
export function scopeOf({ workflow, nodeId, forEach, lastRun, itemSample }: ScopeInput): Scope {
  const run = lastRun;
  const has = Boolean(run);
  const nodes: Record<string, ScopeEntry> = {};
  for (const id of upstreamOf(workflow, nodeId)) {
    const output = lastOutput(run, id);
    nodes[id] = {
      detail: output.known ? `node, ran in the last run` : "node upstream",
      known: false,
      children: { output: entry(`output of ${id}`, output) },
    };
  }
  const vars = workflow.vars ?? {};
  const varEntries: Record<string, ScopeEntry> = {};
  for (const [key, value] of Object.entries(vars)) {
    varEntries[key] = entry("workflow variable", { known: true, value });
  }
  const attempts = framesOf(run, nodeId).map((f) => f.attempt);
  const scope: Scope = {
    trigger: entry("the run's input", has ? { known: true, value: run?.input } : { known: false }),
    input: entry("this node's input", startedInput(run, nodeId)),
    nodes: { detail: "upstream nodes that completed", known: false, children: nodes },
    vars: { detail: "workflow variables", known: true, value: vars, children: varEntries },
    execution: {
      detail: "this run",
      known: false,
      children: {
        id: entry("run id", has ? { known: true, value: run?.id } : { known: false }),
        started_at: entry("ISO 8601 start time", run?.startedAt ? { known: true, value: run.startedAt } : { known: false }),
        attempt: entry("attempt number, 1 first", attempts.length > 0 ? { known: true, value: Math.max(...attempts) } : { known: false }),
      },
    },
  };
  if (forEach) {
    scope.item = entry("the current item of for_each", itemSample ?? { known: false });
    scope.index = entry("the current item's position, 0 first", { known: false });
  }
  return scope;
}

function valueChildren(value: unknown): Record<string, ScopeEntry> {
  const out: Record<string, ScopeEntry> = {};
  if (Array.isArray(value)) {
    if (value.length > 0) out["0"] = entry("first item", { known: true, value: value[0] });
    return out;
  }
  if (typeof value === "object" && value !== null) {
    // A huge object would flood the list: the first 200 keys are plenty to pick from.
    for (const key of Object.keys(value).slice(0, 200)) {
      out[key] = entry("key", { known: true, value: (value as Record<string, unknown>)[key] });
    }
  }
  return out;
}

function childrenOf(e: ScopeEntry): Record<string, ScopeEntry> {
  return { ...(e.known ? valueChildren(e.value) : {}), ...(e.children ?? {}) };
}

/** The entry a path names, or undefined when the scope does not know it. */
export function lookup(scope: Scope, path: string[]): ScopeEntry | undefined {
  let current: ScopeEntry | undefined = { detail: "", known: false, children: scope };
  for (const name of path) {
    if (!current) return undefined;
    current = childrenOf(current)[name];
  }
  return current;
}

/** The names that can follow `parent` and start with `partial` (case-insensitive), in a stable order. */
export function completionsFor(scope: Scope, parent: string[], partial: string): Completion[] {
  const at = lookup(scope, parent);
  if (!at) return [];
  const lower = partial.toLowerCase();
  const out: Completion[] = [];
  for (const [name, e] of Object.entries(childrenOf(at))) {
    if (!name.toLowerCase().startsWith(lower)) continue;
    if (name === partial) continue; // typed in full already: "." goes on
    out.push({ name, detail: e.detail, more: Object.keys(childrenOf(e)).length > 0 });
  }
  // Names typed as `a.b` first; odd keys (written a["x-y"]) after.
  return out.sort((a, b) => Number(!isIdentifier(a.name)) - Number(!isIdentifier(b.name)));
}
