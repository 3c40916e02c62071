// How one workflow node looks on the canvas: its name and type, an input on the left, one
// labelled output per port on the right, how it stands in the run shown, and the server's
// problems with it.
import { memo, useEffect, useRef } from "react";
import { Handle, Position, useUpdateNodeInternals, type NodeProps } from "@xyflow/react";
import type { RunStatus, StepEdge, StepNode } from "../graph/types";
import { ERROR_PORT, MAIN_PORT } from "../graph/convert";
import { glyphOf } from "./icons";
import "./editor.css";

const STATUS_TEXT: Record<RunStatus, string> = {
  running: "running",
  completed: "completed",
  failed: "failed",
  retrying: "retrying",
  skipped: "skipped",
  waiting: "waiting",
  cancelled: "cancelled",
};

function StepNodeComponent({ id, data, selected }: NodeProps<StepNode>) {
  const { node, nodeType, ports, status, problems } = data;
  const title = node.name || node.id;
  const updateNodeInternals = useUpdateNodeInternals();
  const portKey = ports.join("\u0000");
  const measuredPorts = useRef(portKey);
  // A renamed port keeps the node's size, so React Flow would not measure its handles again.
  // (Not on mount: React Flow measures new nodes itself, and fits the view once they all are.)
  useEffect(() => {
    if (measuredPorts.current === portKey) return;
    measuredPorts.current = portKey;
    updateNodeInternals(id);
  }, [id, portKey, updateNodeInternals]);
  const classes = ["step-node"];
  if (status) classes.push(`status-${status}`);
  if (selected) classes.push("selected");
  if (problems?.length) classes.push("has-problems");
  if (nodeType?.trigger) classes.push("trigger");
  if (!nodeType) classes.push("unknown-type");
  // "main" alone needs no label; with other ports every one is named so none is ambiguous.
  const labelled = ports.length > 1 || ports[0] !== MAIN_PORT;
  return (
    <div className={classes.join(" ")}>
      {!nodeType?.trigger && (
        <Handle
          type="target"
          position={Position.Left}
          id={MAIN_PORT}
          className="step-input"
          aria-label={`Input of ${id}`}
          title={`Input of ${id}`}
        />
      )}
      <div className="step-head">
        <span className="step-icon" aria-hidden="true">
          {glyphOf(nodeType, node.type)}
        </span>
        <span className="step-title" title={title}>
          {title}
        </span>
        {status && (
          <span className={`step-status badge ${status}`} aria-label={`Status: ${STATUS_TEXT[status]}`}>
            {STATUS_TEXT[status]}
          </span>
        )}
        {problems?.length ? (
          <span
            className="step-problem-marker"
            role="img"
            aria-label={`${problems.length} problem${problems.length > 1 ? "s" : ""}`}
            title={problems.join("\n")}
          >
            !
          </span>
        ) : null}
      </div>
      <div className="step-type" title={nodeType ? `${nodeType.name}: ${nodeType.description}` : "unknown node type"}>
        {node.name && node.name !== node.id ? `${node.id} · ` : ""}
        {node.type}
        {nodeType ? ` · ${nodeType.category}` : " · unknown type"}
      </div>
      {problems?.length ? (
        <ul className="step-problems" aria-label={`Problems of ${id}`}>
          {problems.map((p, i) => (
            <li key={i}>{p}</li>
          ))}
        </ul>
      ) : null}
      <div className="step-ports">
        {ports.map((port) => (
          <div
            key={port}
            className={`step-port${port === ERROR_PORT ? " error-port" : ""}${labelled ? "" : " unlabelled"}`}
          >
            {labelled && <span className="step-port-label">{port}</span>}
            <Handle
              type="source"
              position={Position.Right}
              id={port}
              className={port === ERROR_PORT ? "step-output error-port" : "step-output"}
              aria-label={`Output port ${port} of ${id}`}
              title={`Output port ${port} of ${id}`}
            />
          </div>
        ))}
      </div>
    </div>
  );
}

export const StepNodeView = memo(StepNodeComponent);

/** For `<ReactFlow nodeTypes>`: defined once, outside components, as React Flow asks. */
export const stepNodeTypes = { step: StepNodeView };

/**
 * An edge as a run shows it: animated while its target runs, coloured once delivered, dashed
 * when dead. `status` is the run's status of the edge (see runs/frames.ts `statusAt`).
 */
export function statusEdge(edge: StepEdge, status: RunStatus | undefined): StepEdge {
  const base = (edge.className ?? "")
    .split(" ")
    .filter((c) => c && !c.startsWith("run-"))
    .join(" ");
  if (!status) return base === (edge.className ?? "") ? edge : { ...edge, className: base, animated: false };
  return {
    ...edge,
    animated: status === "running",
    className: `${base} run-${status}`.trim(),
    data: { ...edge.data, status },
  };
}
