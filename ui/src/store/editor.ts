// The workflow being edited on the canvas: its definition, what is selected, the server's
// problems with it, the run shown on it, and the history that undo and redo walk.
import { create } from "zustand";
import type { ErrorDetail } from "../api/client";
import type {
  Execution,
  ExecutionStatus,
  NodeType,
  Workflow,
  WorkflowDetail,
  WorkflowEdge,
  WorkflowNode,
} from "../api/types";
import { MAIN_PORT, edgeId, newEdge, placement, portsOf } from "../graph/convert";
import type { RunStatus } from "../graph/types";

/** What the run helper shows on the canvas: statuses by node id and by edge id (convert's edgeId). */
export interface RunView {
  executionId: string;
  nodes: Record<string, RunStatus>;
  edges: Record<string, RunStatus>;
  status?: ExecutionStatus;
  result?: unknown;
  error?: unknown;
}

/** Nodes copied together with the edges between them. */
export interface Clipboard {
  nodes: WorkflowNode[];
  edges: WorkflowEdge[];
}

export type Point = { x: number; y: number };
export type Size = { width: number; height: number };

/** How many steps undo can go back. */
export const HISTORY_LIMIT = 100;
/** Edits of the same field closer together than this are one undo step (typing). */
export const COALESCE_MS = 1000;
/** Where pasted nodes land relative to the copied ones. */
export const PASTE_OFFSET = 40;
export const ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;
export const CLIPBOARD_KIND = "flowforge/nodes";

export interface EditorState {
  workflowId: string | null;
  workflow: Workflow | null;
  /** The version the definition was loaded at or last saved as (If-Match of the next save). */
  savedVersion: number;
  /** The definition as last loaded or saved, serialised: `dirty` compares with it. */
  savedJson: string;
  dirty: boolean;
  nodeTypes: Record<string, NodeType>;
  /** Selected node ids (the inspector shows exactly one). */
  selected: string[];
  selectedEdges: string[];
  /** The server's validation messages by node id; "" holds the workflow-level ones. */
  problems: Record<string, string[]>;
  /** The workflow's latest execution, with its frames. */
  lastRun: Execution | null;
  run: RunView | null;
  past: Workflow[];
  future: Workflow[];
  clipboard: Clipboard | null;
  /** The clipboard text of the last copy: pasting that text again pastes `clipboard`, offset anew. */
  copiedText: string | null;
  /** The definition when the current drag started: the whole drag is one undo step. */
  dragStart: Workflow | null;
  lastEdit: { key: string; at: number } | null;
  /**
   * Saves the definition (set by the editor page, which owns the network call); resolves true
   * when it was saved. Run controls use it for "Save and run".
   */
  save: (() => Promise<boolean>) | null;

  load: (detail: WorkflowDetail) => void;
  /** After a successful save of `sent`: the new version, and `sent` is the clean state. */
  markSaved: (detail: WorkflowDetail, sent: Workflow) => void;
  setNodeTypes: (types: NodeType[] | Record<string, NodeType>) => void;
  setLastRun: (run: Execution | null) => void;
  setRun: (run: RunView | null) => void;
  select: (nodes: string[], edges?: string[]) => void;
  selectAll: () => void;
  updateWorkflow: (patch: Partial<Omit<Workflow, "nodes" | "edges">>) => void;
  addNode: (type: string, position?: Point) => string | null;
  updateNode: (id: string, patch: Partial<WorkflowNode>) => void;
  /** Renames a node everywhere it is named; answers why not, or null when done. */
  renameNode: (oldId: string, newId: string) => string | null;
  removeSelected: () => void;
  connect: (source: string, sourcePort: string, target: string, targetPort?: string) => boolean;
  removeEdge: (id: string) => void;
  /** Positions during a drag (`done` false: no undo step yet) and at its end (`done` true). */
  moveNodes: (positions: Record<string, Point>, done?: boolean) => void;
  copy: () => Clipboard | null;
  paste: (clip?: Clipboard | null) => string[];
  undo: () => void;
  redo: () => void;
  setProblems: (details: readonly ErrorDetail[], sent?: Workflow) => void;
  clearProblems: () => void;
  autoLayout: (sizes?: Record<string, Size>) => Promise<void>;
}

const initial = {
  workflowId: null,
  workflow: null,
  savedVersion: 0,
  savedJson: "",
  dirty: false,
  nodeTypes: {},
  selected: [],
  selectedEdges: [],
  problems: {},
  lastRun: null,
  run: null,
  past: [],
  future: [],
  clipboard: null,
  copiedText: null,
  dragStart: null,
  lastEdit: null,
  save: null,
} satisfies Partial<EditorState>;

/** A node id not yet taken: `base`, then `base_2`, `base_3` … */
export function uniqueId(base: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  let clean = base.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 120) || "node";
  if (!/^[A-Za-z_]/.test(clean)) clean = `_${clean}`;
  if (!used.has(clean)) return clean;
  for (let n = 2; ; n++) {
    const candidate = `${clean}_${n}`;
    if (!used.has(candidate)) return candidate;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `{{ nodes.old.output }}` and `nodes['old']` in every string of a value, renamed. */
export function renameReferences<T>(value: T, oldId: string, newId: string): T {
  const dotted = new RegExp(`(\\bnodes\\s*\\.\\s*)${escapeRegExp(oldId)}(?![A-Za-z0-9_-])`, "g");
  const indexed = new RegExp(`(\\bnodes\\s*\\[\\s*)(['"])${escapeRegExp(oldId)}\\2`, "g");
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") {
      if (!v.includes(oldId)) return v;
      return v.replace(dotted, `$1${newId}`).replace(indexed, `$1$2${newId}$2`);
    }
    if (Array.isArray(v)) {
      const out = v.map(walk);
      return out.every((x, i) => x === v[i]) ? v : out;
    }
    if (v && typeof v === "object") {
      let changed = false;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        out[k] = walk(x);
        if (out[k] !== x) changed = true;
      }
      return changed ? out : v;
    }
    return v;
  };
  return walk(value) as T;
}

/**
 * The server's validation details by node: `nodes[1].params.url` names the node at index 1 of
 * the definition that was sent (or the detail names the node), edge problems go to the edge's
 * source node, and anything else is workflow-level (key "").
 */
export function problemsByNode(
  details: readonly (ErrorDetail & { node?: unknown })[],
  sent: Workflow,
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const ids = new Set(sent.nodes.map((n) => n.id));
  const add = (key: string, message: string) => (out[key] ??= []).push(message);
  for (const detail of details) {
    const field = detail.field.replace(/^body\./, "");
    const nodeMatch = /^nodes\[(\d+)\]\.?(.*)$/.exec(field);
    if (nodeMatch) {
      const node = typeof detail.node === "string" && ids.has(detail.node)
        ? detail.node
        : sent.nodes[Number(nodeMatch[1])]?.id;
      const where = nodeMatch[2];
      if (node !== undefined) {
        add(node, where ? `${where}: ${detail.message}` : detail.message);
        continue;
      }
    }
    const edgeMatch = /^edges\[(\d+)\]\.?(.*)$/.exec(field);
    if (edgeMatch) {
      const edge = sent.edges?.[Number(edgeMatch[1])];
      if (edge) {
        const label = `edge to ${edge.target}${edge.source_port && edge.source_port !== MAIN_PORT ? ` from port ${edge.source_port}` : ""}`;
        const message = `${label}: ${detail.message}`;
        if (ids.has(edge.source)) add(edge.source, message);
        else if (ids.has(edge.target)) add(edge.target, `edge from ${edge.source}: ${detail.message}`);
        else add("", `${field}: ${detail.message}`);
        continue;
      }
    }
    if (typeof detail.node === "string" && ids.has(detail.node)) {
      add(detail.node, field ? `${field}: ${detail.message}` : detail.message);
      continue;
    }
    add("", field && field !== "$" ? `${field}: ${detail.message}` : detail.message);
  }
  return out;
}

/** Reads nodes copied by this editor (in any tab) from clipboard text; null if it is not that. */
export function parseClipboard(text: string): Clipboard | null {
  try {
    const data = JSON.parse(text) as { kind?: unknown; nodes?: unknown; edges?: unknown };
    if (data?.kind !== CLIPBOARD_KIND || !Array.isArray(data.nodes)) return null;
    const nodes = (data.nodes as WorkflowNode[]).filter(
      (n) => n && typeof n.id === "string" && typeof n.type === "string",
    );
    const edges = Array.isArray(data.edges)
      ? (data.edges as WorkflowEdge[]).filter(
          (e) => e && typeof e.source === "string" && typeof e.target === "string",
        )
      : [];
    return nodes.length ? { nodes, edges } : null;
  } catch {
    return null;
  }
}

export function clipboardText(clip: Clipboard): string {
  return JSON.stringify({ kind: CLIPBOARD_KIND, ...clip }, null, 2);
}

/** A default size for layout when the canvas has not measured a node. */
function sizeOf(node: WorkflowNode, nodeType: NodeType | undefined, sizes?: Record<string, Size>): Size {
  const measured = sizes?.[node.id];
  if (measured && measured.width > 0 && measured.height > 0) return measured;
  const ports = Math.max(1, nodeType?.ports.length ?? 1);
  return { width: 200, height: 64 + ports * 20 };
}

export const useEditor = create<EditorState>()((set, get) => {
  /**
   * Replaces the definition as one undo step. With `coalesce`, a change to the same thing
   * shortly after the last one joins that step (typing in a field is one step, not one per key).
   */
  const commit = (change: Workflow, extra: Partial<EditorState> = {}, coalesce?: string) => {
    const { workflow, past, lastEdit, savedJson } = get();
    if (!workflow || change === workflow) return;
    const next = freezePlacement(workflow, change);
    const now = Date.now();
    const join = coalesce !== undefined && lastEdit?.key === coalesce && now - lastEdit.at < COALESCE_MS;
    set({
      workflow: next,
      past: join ? past : [...past, workflow].slice(-HISTORY_LIMIT),
      future: [],
      dirty: JSON.stringify(next) !== savedJson,
      lastEdit: coalesce !== undefined ? { key: coalesce, at: now } : null,
      ...extra,
    });
  };

  const withNodes = (workflow: Workflow, nodes: WorkflowNode[], edges = workflow.edges): Workflow => ({
    ...workflow,
    nodes,
    edges,
  });

  return {
    ...initial,

    load: (detail) =>
      set({
        workflowId: detail.id,
        workflow: detail.definition,
        savedVersion: detail.version,
        savedJson: JSON.stringify(detail.definition),
        dirty: false,
        selected: [],
        selectedEdges: [],
        problems: {},
        past: [],
        future: [],
        dragStart: null,
        lastEdit: null,
        ...(get().workflowId === detail.id ? {} : { run: null, lastRun: null }),
      }),

    markSaved: (detail, sent) => {
      const savedJson = JSON.stringify(sent);
      set({
        savedVersion: detail.version,
        savedJson,
        dirty: JSON.stringify(get().workflow) !== savedJson,
        problems: {},
        lastEdit: null,
      });
    },

    setNodeTypes: (types) =>
      set({
        nodeTypes: Array.isArray(types) ? Object.fromEntries(types.map((t) => [t.type, t])) : types,
      }),

    setLastRun: (lastRun) => set({ lastRun }),
    setRun: (run) => set({ run }),

    select: (nodes, edges = []) => {
      const { selected, selectedEdges } = get();
      const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
      if (same(selected, nodes) && same(selectedEdges, edges)) return;
      set({ selected: nodes, selectedEdges: edges });
    },

    selectAll: () => {
      const { workflow } = get();
      if (!workflow) return;
      set({ selected: workflow.nodes.map((n) => n.id), selectedEdges: (workflow.edges ?? []).map(edgeId) });
    },

    updateWorkflow: (patch) => {
      const { workflow } = get();
      if (!workflow) return;
      const keys = Object.keys(patch) as (keyof typeof patch)[];
      if (keys.every((k) => Object.is(workflow[k], patch[k]))) return;
      commit({ ...workflow, ...patch }, {}, `workflow:${keys.sort().join(",")}`);
    },

    addNode: (type, position) => {
      const { workflow, nodeTypes } = get();
      if (!workflow) return null;
      const nodeType = nodeTypes[type];
      const base = nodeType?.action ?? type.split(".").pop() ?? "node";
      const id = uniqueId(base, workflow.nodes.map((n) => n.id));
      const at = position ?? freeSpot(workflow);
      const node: WorkflowNode = {
        id,
        type,
        params: {},
        on_error: "fail",
        trigger_rule: "all",
        concurrency: 1,
        position: [Math.round(at.x), Math.round(at.y)],
      };
      commit(withNodes(workflow, [...workflow.nodes, node]), { selected: [id], selectedEdges: [] });
      return id;
    },

    updateNode: (id, patch) => {
      const { workflow } = get();
      if (!workflow) return;
      if (patch.id !== undefined && patch.id !== id) {
        const error = get().renameNode(id, patch.id);
        if (error) throw new Error(error);
        id = patch.id;
      }
      const rest = { ...patch };
      delete rest.id;
      const index = workflow.nodes.findIndex((n) => n.id === id);
      const node = workflow.nodes[index];
      if (!node) return;
      const keys = Object.keys(rest) as (keyof WorkflowNode)[];
      if (keys.length === 0 || keys.every((k) => Object.is(node[k], rest[k]))) return;
      const nodes = [...workflow.nodes];
      nodes[index] = { ...node, ...rest };
      commit(withNodes(workflow, nodes), {}, `node:${id}:${keys.sort().join(",")}`);
    },

    renameNode: (oldId, newId) => {
      const { workflow, selected, problems, run } = get();
      if (!workflow) return "no workflow is loaded";
      if (oldId === newId) return null;
      if (!ID_PATTERN.test(newId)) {
        return "an id starts with a letter or _ and holds only letters, digits, _ and - (at most 128 characters)";
      }
      if (!workflow.nodes.some((n) => n.id === oldId)) return `no node has the id ${oldId}`;
      if (workflow.nodes.some((n) => n.id === newId)) return `another node already has the id ${newId}`;
      const rename = (id: string) => (id === oldId ? newId : id);
      const nodes = workflow.nodes.map((n) => {
        const renamed = n.id === oldId ? { ...n, id: newId } : n;
        const params = renameReferences(renamed.params, oldId, newId);
        const forEach = renameReferences(renamed.for_each, oldId, newId);
        return params === renamed.params && forEach === renamed.for_each
          ? renamed
          : { ...renamed, params, for_each: forEach };
      });
      const edges = (workflow.edges ?? []).map((e) =>
        e.source === oldId || e.target === oldId ? { ...e, source: rename(e.source), target: rename(e.target) } : e,
      );
      const moved = { ...problems };
      if (moved[oldId]) {
        moved[newId] = moved[oldId];
        delete moved[oldId];
      }
      commit(
        { ...withNodes(workflow, nodes, edges), output: renameReferences(workflow.output, oldId, newId) },
        {
          selected: selected.map(rename),
          selectedEdges: [],
          problems: moved,
          // the run shown was of the old names: keep showing it under the new one
          run: run && run.nodes[oldId] ? { ...run, nodes: { ...run.nodes, [newId]: run.nodes[oldId] } } : run,
        },
      );
      return null;
    },

    removeSelected: () => {
      const { workflow, selected, selectedEdges } = get();
      if (!workflow || (selected.length === 0 && selectedEdges.length === 0)) return;
      const gone = new Set(selected);
      const goneEdges = new Set(selectedEdges);
      const edges = (workflow.edges ?? []).filter(
        (e) => !gone.has(e.source) && !gone.has(e.target) && !goneEdges.has(edgeId(e)),
      );
      const nodes = workflow.nodes.filter((n) => !gone.has(n.id));
      commit(withNodes(workflow, nodes, edges), { selected: [], selectedEdges: [] });
    },

    connect: (source, sourcePort, target, targetPort = MAIN_PORT) => {
      const { workflow } = get();
      if (!workflow || source === target) return false;
      const ids = new Set(workflow.nodes.map((n) => n.id));
      if (!ids.has(source) || !ids.has(target)) return false;
      const edge = newEdge(source, sourcePort || MAIN_PORT, target, targetPort || MAIN_PORT);
      const id = edgeId(edge);
      if ((workflow.edges ?? []).some((e) => edgeId(e) === id)) return false;
      commit({ ...workflow, edges: [...(workflow.edges ?? []), edge] });
      return true;
    },

    removeEdge: (id) => {
      const { workflow, selectedEdges } = get();
      if (!workflow) return;
      const edges = (workflow.edges ?? []).filter((e) => edgeId(e) !== id);
      if (edges.length === (workflow.edges ?? []).length) return;
      commit({ ...workflow, edges }, { selectedEdges: selectedEdges.filter((e) => e !== id) });
    },

    moveNodes: (positions, done = true) => {
      const { workflow, dragStart, past, savedJson } = get();
      if (!workflow) return;
      let changed = false;
      const nodes = workflow.nodes.map((n) => {
        const p = positions[n.id];
        if (!p) return n;
        const x = Math.round(p.x);
        const y = Math.round(p.y);
        if (n.position && n.position[0] === x && n.position[1] === y) return n;
        changed = true;
        return { ...n, position: [x, y] as [number, number] };
      });
      const next = changed ? withNodes(workflow, nodes) : workflow;
      if (!done) {
        // mid-drag: show it, but the undo step is taken once, when the drag ends
        if (changed) set({ workflow: next, dragStart: dragStart ?? workflow, future: [], lastEdit: null });
        return;
      }
      const start = dragStart ?? workflow;
      if (start === next) {
        set({ dragStart: null });
        return;
      }
      set({
        workflow: next,
        dragStart: null,
        past: [...past, start].slice(-HISTORY_LIMIT),
        future: [],
        dirty: JSON.stringify(next) !== savedJson,
        lastEdit: null,
      });
    },

    copy: () => {
      const { workflow, selected } = get();
      if (!workflow || selected.length === 0) return null;
      const chosen = new Set(selected);
      const clip: Clipboard = {
        nodes: workflow.nodes.filter((n) => chosen.has(n.id)),
        edges: (workflow.edges ?? []).filter((e) => chosen.has(e.source) && chosen.has(e.target)),
      };
      const text = clipboardText(clip);
      set({ clipboard: clip, copiedText: text });
      // Also as text, so nodes travel to another tab or workflow; a denied permission is fine.
      if (typeof navigator !== "undefined" && navigator.clipboard?.writeText) {
        navigator.clipboard.writeText(text).catch(() => undefined);
      }
      return clip;
    },

    paste: (clip) => {
      const { workflow, clipboard } = get();
      const source = clip ?? clipboard;
      if (!workflow || !source || source.nodes.length === 0) return [];
      const taken = new Set(workflow.nodes.map((n) => n.id));
      const renamed = new Map<string, string>();
      const auto = placement({ ...workflow, nodes: source.nodes, edges: source.edges });
      const pasted = source.nodes.map((n) => {
        // a copy of "check" or of "check_2" is the next free "check_N"
        const id = uniqueId(n.id.replace(/_\d+$/, "") || n.id, taken);
        taken.add(id);
        renamed.set(n.id, id);
        const at = n.position ? { x: n.position[0], y: n.position[1] } : (auto[n.id] ?? { x: 0, y: 0 });
        return { ...n, id, position: [at.x + PASTE_OFFSET, at.y + PASTE_OFFSET] as [number, number] };
      });
      // references between the pasted nodes follow them to their new ids
      const nodes = pasted.map((n) => {
        let out = n;
        for (const [from, to] of renamed) {
          if (from === to) continue;
          const params = renameReferences(out.params, from, to);
          const forEach = renameReferences(out.for_each, from, to);
          if (params !== out.params || forEach !== out.for_each) out = { ...out, params, for_each: forEach };
        }
        return out;
      });
      const edges = source.edges
        .filter((e) => renamed.has(e.source) && renamed.has(e.target))
        .map((e) => ({ ...e, source: renamed.get(e.source)!, target: renamed.get(e.target)! }));
      const ids = nodes.map((n) => n.id);
      commit(
        withNodes(workflow, [...workflow.nodes, ...nodes], [...(workflow.edges ?? []), ...edges]),
        // pasting twice in a row offsets again instead of stacking on the same spot
        { selected: ids, selectedEdges: [], ...(clip ? {} : { clipboard: { nodes, edges } }) },
      );
      return ids;
    },

    undo: () => {
      const { workflow, past, future, savedJson } = get();
      const previous = past.at(-1);
      if (!workflow || !previous) return;
      set({
        workflow: previous,
        past: past.slice(0, -1),
        future: [workflow, ...future].slice(0, HISTORY_LIMIT),
        dirty: JSON.stringify(previous) !== savedJson,
        lastEdit: null,
        ...keepSelection(get(), previous),
      });
    },

    redo: () => {
      const { workflow, past, future, savedJson } = get();
      const next = future[0];
      if (!workflow || !next) return;
      set({
        workflow: next,
        past: [...past, workflow].slice(-HISTORY_LIMIT),
        future: future.slice(1),
        dirty: JSON.stringify(next) !== savedJson,
        lastEdit: null,
        ...keepSelection(get(), next),
      });
    },

    setProblems: (details, sent) => {
      const workflow = sent ?? get().workflow;
      if (!workflow) return;
      set({ problems: problemsByNode(details, workflow) });
    },

    clearProblems: () => set({ problems: {} }),

    autoLayout: async (sizes) => {
      const { workflow, nodeTypes } = get();
      if (!workflow || workflow.nodes.length === 0) return;
      const positions = await layered(workflow, nodeTypes, sizes);
      // the definition may have changed while ELK worked: place only the nodes still there
      const current = get().workflow;
      if (!current) return;
      const nodes = current.nodes.map((n) => {
        const p = positions[n.id];
        if (!p) return n;
        const pos: [number, number] = [Math.round(p.x), Math.round(p.y)];
        return n.position && n.position[0] === pos[0] && n.position[1] === pos[1] ? n : { ...n, position: pos };
      });
      if (nodes.every((n, i) => n === current.nodes[i])) return;
      commit(withNodes(current, nodes));
    },
  };
});

/**
 * Nodes without a saved position are placed from the graph's shape, so a new or removed edge
 * could move them. Those an edit would move keep, as saved positions, the places they were
 * shown at; the others stay as they were written.
 */
export function freezePlacement(shown: Workflow, next: Workflow): Workflow {
  if (next.nodes.every((n) => n.position)) return next;
  const was = placement(shown);
  const will = placement(next);
  const ids = new Set(next.nodes.map((n) => n.id));
  let changed = false;
  const nodes = next.nodes.map((node, index) => {
    if (node.position) return node;
    // a renamed node: the node at its index before, under its old id
    const before = shown.nodes[index];
    const p = was[node.id] ?? (before && !ids.has(before.id) ? was[before.id] : undefined);
    const q = will[node.id];
    if (!p || (q && q.x === p.x && q.y === p.y)) return node;
    changed = true;
    return { ...node, position: [p.x, p.y] as [number, number] };
  });
  return changed ? { ...next, nodes } : next;
}

/** Selection that still names nodes and edges of `workflow` (after undo or redo). */
function keepSelection(state: EditorState, workflow: Workflow): Partial<EditorState> {
  const ids = new Set(workflow.nodes.map((n) => n.id));
  const edges = new Set((workflow.edges ?? []).map(edgeId));
  return {
    selected: state.selected.filter((id) => ids.has(id)),
    selectedEdges: state.selectedEdges.filter((id) => edges.has(id)),
  };
}

/** Below the lowest node, where a node added without a drop position will not cover another. */
function freeSpot(workflow: Workflow): Point {
  if (workflow.nodes.length === 0) return { x: 40, y: 40 };
  const auto = placement(workflow);
  let maxY = -Infinity;
  let minX = Infinity;
  for (const n of workflow.nodes) {
    const p = n.position ? { x: n.position[0], y: n.position[1] } : auto[n.id];
    if (!p) continue;
    maxY = Math.max(maxY, p.y);
    minX = Math.min(minX, p.x);
  }
  return { x: Number.isFinite(minX) ? minX : 40, y: Number.isFinite(maxY) ? maxY + 140 : 40 };
}

interface ElkNode {
  id: string;
  x?: number;
  y?: number;
  children?: ElkNode[];
}

/** Positions from ELK's layered algorithm, left to right, with each node's ports in order. */
export async function layered(
  workflow: Workflow,
  nodeTypes: Record<string, NodeType>,
  sizes?: Record<string, Size>,
): Promise<Record<string, Point>> {
  // loaded on demand: ELK is large and only auto-layout needs it
  const { default: ELK } = await import("elkjs/lib/elk.bundled.js");
  const elk = new ELK();
  const ids = new Set(workflow.nodes.map((n) => n.id));
  const children = workflow.nodes.map((node) => {
    const nodeType = nodeTypes[node.type];
    const size = sizeOf(node, nodeType, sizes);
    const ports = portsOf(node, nodeType);
    return {
      id: node.id,
      ...size,
      layoutOptions: { "elk.portConstraints": "FIXED_ORDER" },
      ports: [
        { id: `${node.id}\u0000in`, layoutOptions: { "elk.port.side": "WEST" } },
        ...ports.map((port, index) => ({
          id: `${node.id}\u0000out\u0000${port}`,
          layoutOptions: { "elk.port.side": "EAST", "elk.port.index": String(index) },
        })),
      ],
    };
  });
  const portIds = new Set(children.flatMap((c) => c.ports.map((p) => p.id)));
  const edges = (workflow.edges ?? [])
    .filter((e) => ids.has(e.source) && ids.has(e.target) && e.source !== e.target)
    .map((e, index) => {
      const sourcePort = `${e.source}\u0000out\u0000${e.source_port || MAIN_PORT}`;
      return {
        id: `e${index}`,
        // an edge from a port the node does not have (yet) still pulls the nodes together
        sources: [portIds.has(sourcePort) ? sourcePort : e.source],
        targets: [`${e.target}\u0000in`],
      };
    });
  const graph = await elk.layout({
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.layered.spacing.nodeNodeBetweenLayers": "80",
      "elk.spacing.nodeNode": "40",
      "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
      "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
    },
    children,
    edges,
  });
  const out: Record<string, Point> = {};
  for (const child of (graph as ElkNode).children ?? []) {
    out[child.id] = { x: 40 + (child.x ?? 0), y: 40 + (child.y ?? 0) };
  }
  return out;
}
