// What the canvas shows: a React Flow node per workflow node, an edge per workflow edge.
import type { Edge, Node } from "@xyflow/react";
import type { NodeType, WorkflowNode } from "../api/types";

/** How a node stands in a run (live, or at one moment of an execution's journal). */
export type RunStatus =
  | "running"
  | "completed"
  | "failed"
  | "retrying"
  | "skipped"
  | "waiting"
  | "cancelled";

export interface StepData extends Record<string, unknown> {
  /** The workflow node as saved (id, type, params, policies, position). */
  node: WorkflowNode;
  /** Its node type from /api/v1/node-types; absent for a type the server does not know. */
  nodeType?: NodeType;
  /** Output ports, in order: "main", or "true"/"false", switch cases, plus "error" with on_error: route. */
  ports: string[];
  /** Set while a run is shown on the canvas. */
  status?: RunStatus;
  /** The server's validation messages about this node. */
  problems?: string[];
}

export type StepNode = Node<StepData, "step">;
export type StepEdge = Edge<{ status?: RunStatus }>;
