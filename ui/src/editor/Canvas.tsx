// The canvas: the workflow in the editor store drawn with React Flow. The store is the one truth;
// React Flow's changes (drags, selection, sizes) go back into it, and the canvas redraws from it.
//
// Large workflows stay fast because what React Flow is handed stays the same object wherever
// nothing changed (see reuseUnchanged): React Flow then keeps its measurements and redraws
// only the nodes and edges an edit, a selection or a run touched. Panning redraws nothing:
// see CanvasBackground and the notes on layers in editor.css.
import { memo, useCallback, useEffect, useMemo, useRef, useState, type DragEvent, type PointerEvent } from "react";
import {
  Controls,
  MiniMap,
  ReactFlow,
  useReactFlow,
  type Connection,
  type EdgeChange,
  type Node,
  type NodeChange,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { toFlow } from "../graph/convert";
import { reuseUnchanged } from "../graph/reuse";
import type { StepEdge, StepNode } from "../graph/types";
import { useEditor, type Point, type Size } from "../store/editor";
import { useSession } from "../store/session";
import { CanvasBackground } from "./CanvasBackground";
import { statusEdge, stepNodeTypes } from "./StepNode";
import "./editor.css";

/** The dataTransfer type a palette entry carries: the node type's name. */
export const NODE_TYPE_MIME = "application/x-flowforge-node-type";

const MINIMAP_COLOURS: Record<string, string> = {
  running: "var(--run)",
  completed: "var(--ok)",
  failed: "var(--fail)",
  skipped: "var(--skip)",
  cancelled: "var(--skip)",
  waiting: "var(--wait)",
  retrying: "var(--wait)",
};

const minimapColour = (node: Node) =>
  MINIMAP_COLOURS[(node.data as StepNode["data"]).status ?? ""] ?? "var(--panel-2)";

const FIT_VIEW_OPTIONS = { padding: 0.2, maxZoom: 1.2 };
const DEFAULT_EDGE_OPTIONS = { interactionWidth: 16 };

/**
 * A press on the empty canvas starts a pan: the pane takes the pointer for the drag, so that the
 * browser does not look for the element under the pointer among all nodes and edges at every
 * move (on a large workflow that search was a good part of each pan frame). React Flow's own
 * pan and selection listen on the window and the pane, which still get every event.
 */
function capturePan(event: PointerEvent<HTMLDivElement>) {
  const target = event.target as Element;
  if (event.button !== 0 || !event.isPrimary || !target.classList?.contains("react-flow__pane")) return;
  if (!target.hasPointerCapture?.(event.pointerId)) target.setPointerCapture?.(event.pointerId);
}

const sameSize = (a: Partial<Size> | undefined, b: Size | undefined) =>
  a?.width === b?.width && a?.height === b?.height;

/** The definition's nodes and edges with the selection and the run shown, as React Flow takes them. */
function useFlow() {
  const workflow = useEditor((s) => s.workflow);
  const nodeTypes = useEditor((s) => s.nodeTypes);
  const problems = useEditor((s) => s.problems);
  const run = useEditor((s) => s.run);
  const selected = useEditor((s) => s.selected);
  const selectedEdges = useEditor((s) => s.selectedEdges);
  // React Flow measures nodes, and a node handed over without its size would be hidden and
  // measured again; its minimap and getNodes() read the size from the node handed over, too.
  const [sizes, setSizes] = useState<Record<string, Size>>({});
  // what was handed over last, before (`drawn`) and after (`shown`) adding sizes
  const drawn = useRef<StepNode[]>([]);
  const shown = useRef<StepNode[]>([]);
  const withSize = useRef(new WeakMap<StepNode, StepNode>());
  const lastEdges = useRef<StepEdge[]>([]);

  const flow = useMemo(
    () => (workflow ? toFlow(workflow, nodeTypes, problems) : { nodes: [], edges: [] }),
    [workflow, nodeTypes, problems],
  );

  const nodes = useMemo(() => {
    const chosen = new Set(selected);
    const next = flow.nodes.map((node): StepNode => {
      const status = run?.nodes[node.id];
      return {
        ...node,
        selected: chosen.has(node.id),
        data: status ? { ...node.data, status } : node.data,
      };
    });
    const kept = reuseUnchanged(drawn.current, next);
    drawn.current = kept;
    let changed = kept.length !== shown.current.length;
    const out = kept.map((node, index) => {
      const size = sizes[node.id];
      let sized = withSize.current.get(node);
      if (!sized || !sameSize(sized.measured, size)) {
        sized = size ? { ...node, measured: size } : node;
        withSize.current.set(node, sized);
      }
      if (sized !== shown.current[index]) changed = true;
      return sized;
    });
    if (changed) shown.current = out;
    return shown.current;
  }, [flow.nodes, selected, run, sizes]);

  const edges = useMemo(() => {
    const chosen = new Set(selectedEdges);
    const next = flow.edges.map((edge): StepEdge => {
      const styled = statusEdge(edge, run?.edges[edge.id]);
      return chosen.has(edge.id) ? { ...styled, selected: true } : styled;
    });
    lastEdges.current = reuseUnchanged(lastEdges.current, next);
    return lastEdges.current;
  }, [flow.edges, selectedEdges, run]);

  return { workflow, nodes, edges, setSizes };
}

const NO_NODES: StepNode[] = [];
const NO_EDGES: StepEdge[] = [];

function CanvasComponent() {
  const theme = useSession((s) => s.theme);
  const { screenToFlowPosition } = useReactFlow();
  const { workflow, nodes, edges, setSizes } = useFlow();
  // React Flow measures its own box as it mounts, which makes the browser lay out the page then
  // and there: mounted together with hundreds of new nodes, those were laid out twice before
  // the first paint. So it mounts empty and gets the workflow right after.
  const [mounted, setMounted] = useState(false);
  useEffect(() => setMounted(true), []);

  const onNodesChange = useCallback(
    (changes: NodeChange<StepNode>[]) => {
      const store = useEditor.getState();
      const positions: Record<string, Point> = {};
      let moved = false;
      let dragging = false;
      let selection: Set<string> | null = null;
      const measured: Record<string, Size> = {};
      for (const change of changes) {
        if (change.type === "position") {
          moved = true;
          if (change.position) positions[change.id] = change.position;
          if (change.dragging) dragging = true;
        } else if (change.type === "select") {
          selection ??= new Set(store.selected);
          if (change.selected) selection.add(change.id);
          else selection.delete(change.id);
        } else if (change.type === "dimensions" && change.dimensions) {
          measured[change.id] = change.dimensions;
        }
      }
      if (moved) store.moveNodes(positions, !dragging);
      if (selection) {
        // keep the order things were selected in, the newest last
        const next = [...store.selected.filter((id) => selection.has(id))];
        for (const id of selection) if (!next.includes(id)) next.push(id);
        store.select(next, store.selectedEdges);
      }
      const ids = Object.keys(measured);
      if (ids.length > 0) {
        setSizes((old) =>
          ids.every((id) => sameSize(old[id], measured[id])) ? old : { ...old, ...measured },
        );
      }
    },
    [setSizes],
  );

  const onEdgesChange = useCallback((changes: EdgeChange<StepEdge>[]) => {
    const store = useEditor.getState();
    let selection: Set<string> | null = null;
    for (const change of changes) {
      if (change.type !== "select") continue;
      selection ??= new Set(store.selectedEdges);
      if (change.selected) selection.add(change.id);
      else selection.delete(change.id);
    }
    if (selection) store.select(store.selected, [...selection]);
  }, []);

  const onConnect = useCallback((connection: Connection) => {
    useEditor
      .getState()
      .connect(connection.source, connection.sourceHandle ?? "main", connection.target, connection.targetHandle ?? "main");
  }, []);

  const isValidConnection = useCallback(
    (connection: Connection | StepEdge) => connection.source !== connection.target,
    [],
  );

  const onDragOver = useCallback((event: DragEvent) => {
    if (!event.dataTransfer.types.includes(NODE_TYPE_MIME)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  }, []);

  const onDrop = useCallback(
    (event: DragEvent) => {
      const type = event.dataTransfer.getData(NODE_TYPE_MIME);
      if (!type) return;
      event.preventDefault();
      const at = screenToFlowPosition({ x: event.clientX, y: event.clientY });
      // the pointer holds the node by its title, not by its corner
      useEditor.getState().addNode(type, { x: at.x - 20, y: at.y - 16 });
    },
    [screenToFlowPosition],
  );

  return (
    <div className="editor-canvas" onDragOver={onDragOver} onDrop={onDrop} onPointerDown={capturePan}>
      {workflow && workflow.nodes.length === 0 && (
        <p className="editor-empty">Drag a node type here from the palette, or use its Add button.</p>
      )}
      <ReactFlow<StepNode, StepEdge>
        aria-label="Workflow canvas"
        nodes={mounted ? nodes : NO_NODES}
        edges={mounted ? edges : NO_EDGES}
        nodeTypes={stepNodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        isValidConnection={isValidConnection}
        deleteKeyCode={null}
        colorMode={theme}
        fitView
        fitViewOptions={FIT_VIEW_OPTIONS}
        minZoom={0.2}
        defaultEdgeOptions={DEFAULT_EDGE_OPTIONS}
      >
        <CanvasBackground />
        <Controls aria-label="Canvas zoom controls" />
        <MiniMap
          pannable
          zoomable
          ariaLabel="Overview of the workflow"
          nodeColor={minimapColour}
          nodeStrokeColor="var(--border)"
        />
      </ReactFlow>
    </div>
  );
}

/** Redrawn from the store alone: the editor page's own updates (save state, dialogs) leave it be. */
export const Canvas = memo(CanvasComponent);
