// From a workflow definition to the canvas (React Flow nodes and edges) and back. The
// definition is the truth: the canvas adds only positions, and every field it does not know
// survives a round trip untouched.
import type { NodeType, Workflow, WorkflowEdge, WorkflowNode } from "../api/types";
import type { StepEdge, StepNode } from "./types";

export const MAIN_PORT = "main";
export const ERROR_PORT = "error";

/** Spacing of the simple placement given to nodes that have no saved position. */
export const COLUMN_WIDTH = 260;
export const ROW_HEIGHT = 130;
export const ORIGIN = { x: 40, y: 40 };

/** An edge as written in a definition: the ports may be left out and then mean "main". */
export interface EdgeLike {
  source: string;
  target: string;
  source_port?: string | null;
  target_port?: string | null;
}

export function edgeId(edge: EdgeLike): string {
  const sourcePort = edge.source_port || MAIN_PORT;
  const targetPort = edge.target_port || MAIN_PORT;
  // the same key as runs/frames.ts defaultEdgeKey, so run statuses find their edges
  return `${edge.source}:${sourcePort}->${edge.target}:${targetPort}`;
}

function switchPorts(params: Record<string, unknown> | undefined): string[] {
  const ports: string[] = [];
  const cases = params?.cases;
  if (Array.isArray(cases)) {
    for (const c of cases) {
      const port = (c as { port?: unknown } | null)?.port;
      if (typeof port === "string" && port) ports.push(port);
    }
  }
  const fallback = params?.default_port;
  ports.push(typeof fallback === "string" && fallback ? fallback : "default");
  return ports;
}

/** The output ports of a node, in the order its handles are drawn. */
export function portsOf(node: WorkflowNode, nodeType?: NodeType): string[] {
  let ports: string[];
  if (node.type === "flow.if") ports = ["true", "false"];
  else if (node.type === "flow.switch") ports = switchPorts(node.params);
  else ports = nodeType?.ports.length ? [...nodeType.ports] : [MAIN_PORT];
  if (node.on_error === "route") ports.push(ERROR_PORT);
  return [...new Set(ports)];
}

/**
 * Left-to-right placement for nodes without a position: the column is the longest path from
 * a node with no incoming edge, the row the order within the column.
 */
export function placement(workflow: Workflow): Record<string, { x: number; y: number }> {
  const ids = workflow.nodes.map((n) => n.id);
  const known = new Set(ids);
  const incoming = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const e of workflow.edges ?? []) {
    if (known.has(e.source) && known.has(e.target) && e.source !== e.target) {
      incoming.get(e.target)?.push(e.source);
    }
  }
  const column = new Map<string, number>();
  const visiting = new Set<string>();
  const columnOf = (id: string): number => {
    const done = column.get(id);
    if (done !== undefined) return done;
    if (visiting.has(id)) return 0; // a cycle: the server will name it; place it anyway
    visiting.add(id);
    let col = 0;
    for (const source of incoming.get(id) ?? []) col = Math.max(col, columnOf(source) + 1);
    visiting.delete(id);
    column.set(id, col);
    return col;
  };
  const rows = new Map<number, number>();
  const out: Record<string, { x: number; y: number }> = {};
  for (const id of ids) {
    const col = columnOf(id);
    const row = rows.get(col) ?? 0;
    rows.set(col, row + 1);
    out[id] = { x: ORIGIN.x + col * COLUMN_WIDTH, y: ORIGIN.y + row * ROW_HEIGHT };
  }
  return out;
}

export function toFlow(
  workflow: Workflow,
  nodeTypes: Record<string, NodeType>,
  problems?: Record<string, string[]>,
): { nodes: StepNode[]; edges: StepEdge[] } {
  const placed = workflow.nodes.some((n) => !n.position) ? placement(workflow) : {};
  // Ports that edges leave from but the node no longer has (a switch case renamed): drawn
  // anyway, so the edge stays visible and can be deleted; the server names the problem.
  const used = new Map<string, string[]>();
  for (const e of workflow.edges ?? []) {
    const list = used.get(e.source) ?? [];
    list.push(e.source_port || MAIN_PORT);
    used.set(e.source, list);
  }
  const nodes = workflow.nodes.map((node): StepNode => {
    const nodeType = nodeTypes[node.type];
    const ports = portsOf(node, nodeType);
    for (const port of used.get(node.id) ?? []) if (!ports.includes(port)) ports.push(port);
    const position = node.position
      ? { x: node.position[0], y: node.position[1] }
      : (placed[node.id] ?? { ...ORIGIN });
    const nodeProblems = problems?.[node.id];
    return {
      id: node.id,
      type: "step",
      position,
      ariaLabel: `Node ${node.id} (${node.type})`,
      data: {
        node,
        ...(nodeType ? { nodeType } : {}),
        ports,
        ...(nodeProblems?.length ? { problems: nodeProblems } : {}),
      },
    };
  });
  const edges = (workflow.edges ?? []).map((edge): StepEdge => {
    const sourcePort = edge.source_port || MAIN_PORT;
    const targetPort = edge.target_port || MAIN_PORT;
    const via = sourcePort === MAIN_PORT ? "" : ` (${sourcePort})`;
    return {
      id: edgeId(edge),
      source: edge.source,
      target: edge.target,
      sourceHandle: sourcePort,
      targetHandle: targetPort,
      ariaLabel: `Edge from ${edge.source}${via} to ${edge.target}`,
      ...(sourcePort === ERROR_PORT ? { className: "error-edge" } : {}),
    };
  });
  return { nodes, edges };
}

/** A new edge as the server accepts it: "main" ports left out, as in hand-written files. */
export function newEdge(source: string, sourcePort: string, target: string, targetPort = MAIN_PORT) {
  const edge: EdgeLike = { source, target };
  if (sourcePort !== MAIN_PORT) edge.source_port = sourcePort;
  if (targetPort !== MAIN_PORT) edge.target_port = targetPort;
  // The generated type is the server's answer, where defaults are always filled in; the
  // request accepts the ports left out.
  return edge as WorkflowEdge;
}

function samePosition(saved: WorkflowNode["position"], x: number, y: number): boolean {
  return !!saved && saved[0] === x && saved[1] === y;
}

/**
 * The definition with the canvas's nodes (in canvas order, with their positions) and edges.
 * Fields the canvas does not know are kept, in their order; edges already in `base` keep
 * their exact form; a node without a saved position keeps none unless it was moved.
 */
export function toWorkflow(base: Workflow, nodes: StepNode[], edges: StepEdge[]): Workflow {
  const placed = placement(base);
  const outNodes = nodes.map((flowNode): WorkflowNode => {
    const node = flowNode.data.node;
    const { x, y } = flowNode.position;
    if (samePosition(node.position, x, y)) return node;
    const auto = placed[node.id];
    if (!node.position && auto && auto.x === x && auto.y === y) return node;
    return { ...node, position: [Math.round(x), Math.round(y)] };
  });
  const saved = new Map((base.edges ?? []).map((e) => [edgeId(e), e]));
  const outEdges = edges.map((edge) => {
    const made = newEdge(
      edge.source,
      edge.sourceHandle || MAIN_PORT,
      edge.target,
      edge.targetHandle || MAIN_PORT,
    );
    return saved.get(edgeId(made)) ?? made;
  });
  const out: Workflow = { ...base, nodes: outNodes, edges: outEdges };
  if (!("edges" in base) && outEdges.length === 0) delete (out as Partial<Workflow>).edges;
  return out;
}
