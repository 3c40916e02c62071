// The workflow's saved versions: pick one to see what changed since, as a graph and as text,
// and restore it as a new version.
import { useEffect, useMemo, useRef, useState } from "react";
import { ReactFlow, ReactFlowProvider } from "@xyflow/react";
import type { Diff, NodeType, Revision, Workflow, WorkflowDetail, WorkflowEdge } from "../api/types";
import { MAIN_PORT, toFlow } from "../graph/convert";
import type { StepEdge, StepNode } from "../graph/types";
import { useSession } from "../store/session";
import { ErrorBox } from "../ui/ErrorBox";
import { fetchDiff, fetchVersion, fetchVersions, saveWorkflow } from "./remote";
import { stepNodeTypes } from "./StepNode";
import "./editor.css";

export interface VersionsProps {
  workflowId: string;
  /** The version the editor holds (the diff compares with it). */
  currentVersion: number;
  nodeTypes: Record<string, NodeType>;
  dirty: boolean;
  onClose: () => void;
  /** After "Restore this version" saved it as a new version. */
  onRestored: (detail: WorkflowDetail, restored: number) => void;
}

/** How the server names an edge in a diff. */
export function diffEdgeKey(edge: Pick<WorkflowEdge, "source" | "target"> & { source_port?: string | null }): string {
  return `${edge.source}:${edge.source_port || MAIN_PORT} -> ${edge.target}`;
}

/**
 * One graph for a diff: the chosen version's nodes and edges, with the ones added since (from
 * the current version) drawn in too, each marked added, removed or changed.
 */
export function diffGraph(
  chosen: Workflow,
  current: Workflow,
  diff: Diff,
  nodeTypes: Record<string, NodeType>,
): { nodes: StepNode[]; edges: StepEdge[] } {
  const added = new Set(diff.nodes.added);
  const removed = new Set(diff.nodes.removed);
  const changed = new Set(diff.nodes.changed);
  const addedEdges = new Set(diff.edges.added);
  const removedEdges = new Set(diff.edges.removed);
  const union: Workflow = {
    ...chosen,
    nodes: [
      // a changed node is drawn as it is now, where it is now
      ...chosen.nodes.map((n) => (changed.has(n.id) ? (current.nodes.find((c) => c.id === n.id) ?? n) : n)),
      ...current.nodes.filter((n) => added.has(n.id)),
    ],
    edges: [
      ...(chosen.edges ?? []),
      ...(current.edges ?? []).filter((e) => addedEdges.has(diffEdgeKey(e))),
    ],
  };
  const flow = toFlow(union, nodeTypes);
  const mark = (id: string) =>
    added.has(id) ? "diff-added" : removed.has(id) ? "diff-removed" : changed.has(id) ? "diff-changed" : "";
  const word = (id: string) =>
    added.has(id) ? ", added" : removed.has(id) ? ", removed" : changed.has(id) ? ", changed" : "";
  return {
    nodes: flow.nodes.map((n) => ({
      ...n,
      className: mark(n.id),
      ariaLabel: `${n.ariaLabel ?? n.id}${word(n.id)}`,
      draggable: false,
      selectable: false,
      connectable: false,
    })),
    edges: flow.edges.map((e, i) => {
      const key = diffEdgeKey(union.edges[i]!);
      const state = addedEdges.has(key) ? "diff-added" : removedEdges.has(key) ? "diff-removed" : "";
      return { ...e, className: `${e.className ?? ""} ${state}`.trim(), selectable: false, focusable: false };
    }),
  };
}

function DiffGraph({ nodes, edges }: { nodes: StepNode[]; edges: StepEdge[] }) {
  const theme = useSession((s) => s.theme);
  return (
    <div className="versions-graph editor-canvas">
      {/* its own provider: inside the editor's, it would share the editor canvas's store */}
      <ReactFlowProvider>
        <ReactFlow<StepNode, StepEdge>
          aria-label="Graph of the changes"
          nodes={nodes}
          edges={edges}
          nodeTypes={stepNodeTypes}
          nodesDraggable={false}
          nodesConnectable={false}
          elementsSelectable={false}
          colorMode={theme}
          fitView
          fitViewOptions={{ padding: 0.15 }}
          minZoom={0.1}
          proOptions={{ hideAttribution: true }}
        />
      </ReactFlowProvider>
    </div>
  );
}

function Unified({ text }: { text: string }) {
  if (!text) return <p className="hint">The definitions are the same.</p>;
  return (
    <pre className="versions-unified" aria-label="Text diff">
      {text.split("\n").map((line, i) => {
        const kind = line.startsWith("@@")
          ? "hunk"
          : line.startsWith("+") && !line.startsWith("+++")
            ? "add"
            : line.startsWith("-") && !line.startsWith("---")
              ? "del"
              : "";
        return (
          <span key={i} className={kind}>
            {line}
            {"\n"}
          </span>
        );
      })}
    </pre>
  );
}

interface Chosen {
  number: number;
  definition: Workflow;
  current: Workflow;
  diff: Diff;
}

export function Versions({ workflowId, currentVersion, nodeTypes, dirty, onClose, onRestored }: VersionsProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const [versions, setVersions] = useState<Revision[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [number, setNumber] = useState<number | null>(null);
  const [chosen, setChosen] = useState<Chosen | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);

  useEffect(() => {
    let live = true;
    fetchVersions(workflowId).then(
      (page) => {
        if (!live) return;
        setVersions(page.items);
        setCursor(page.nextCursor ?? null);
        // start with the one before the current: "what did my last save change?"
        const previous = page.items.find((v) => v.number < currentVersion) ?? page.items[0];
        if (previous) setNumber(previous.number);
      },
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [workflowId, currentVersion]);

  useEffect(() => {
    if (number === null) return;
    let live = true;
    setChosen(null);
    Promise.all([
      fetchVersion(workflowId, number),
      number === currentVersion ? null : fetchVersion(workflowId, currentVersion),
      fetchDiff(workflowId, number, currentVersion),
    ]).then(
      ([version, current, diff]) => {
        if (!live) return;
        setError(null);
        setChosen({ number, definition: version.definition, current: (current ?? version).definition, diff });
      },
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [workflowId, number, currentVersion]);

  const graph = useMemo(
    () => (chosen ? diffGraph(chosen.definition, chosen.current, chosen.diff, nodeTypes) : null),
    [chosen, nodeTypes],
  );

  const more = async () => {
    if (!cursor) return;
    try {
      const page = await fetchVersions(workflowId, cursor);
      setVersions((old) => [...old, ...page.items]);
      setCursor(page.nextCursor ?? null);
    } catch (e) {
      setError(e);
    }
  };

  const restore = async () => {
    if (!chosen) return;
    setBusy(true);
    setError(null);
    try {
      const detail = await saveWorkflow(workflowId, chosen.definition, currentVersion);
      onRestored(detail, chosen.number);
      ref.current?.close();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const summary = chosen?.diff;
  return (
    <dialog ref={ref} className="versions" aria-labelledby="versions-title" onClose={onClose}>
      <div className="versions-head">
        <h2 id="versions-title">Versions</h2>
        <button type="button" className="ghost" onClick={() => ref.current?.close()}>
          Close
        </button>
      </div>
      <div className="versions-body">
        <ul className="versions-list" aria-label="Saved versions">
          {versions.map((v) => (
            <li key={v.number}>
              <button
                type="button"
                aria-pressed={v.number === number}
                aria-label={`Version ${v.number}`}
                onClick={() => setNumber(v.number)}
              >
                <span>
                  Version {v.number}
                  {v.number === currentVersion ? " (current)" : ""}
                </span>
                <small>{new Date(v.createdAt).toLocaleString()}</small>
              </button>
            </li>
          ))}
          {cursor && (
            <li>
              <button type="button" className="ghost" onClick={more}>
                Older versions…
              </button>
            </li>
          )}
        </ul>
        <section className="versions-detail" aria-label="Changes">
          <ErrorBox error={error} />
          {number !== null && !chosen && !error && <p className="hint">Loading version {number}…</p>}
          {chosen && summary && graph && (
            <>
              <div className="toolbar" style={{ margin: 0 }}>
                <strong>
                  {chosen.number === currentVersion
                    ? `Version ${chosen.number} is the current version`
                    : `Changes from version ${chosen.number} to version ${currentVersion} (current)`}
                </strong>
                <span className="spacer" />
                <button
                  type="button"
                  onClick={restore}
                  disabled={busy || chosen.number === currentVersion}
                  title="Save this version's definition as a new version"
                >
                  Restore this version
                </button>
              </div>
              {dirty && chosen.number !== currentVersion && (
                <p className="hint" role="note">
                  Restoring replaces your unsaved changes on the canvas.
                </p>
              )}
              <div className="versions-legend" aria-label="Summary">
                <span className="legend-added">
                  {summary.nodes.added.length} added{summary.nodes.added.length ? `: ${summary.nodes.added.join(", ")}` : ""}
                </span>
                <span className="legend-removed">
                  {summary.nodes.removed.length} removed
                  {summary.nodes.removed.length ? `: ${summary.nodes.removed.join(", ")}` : ""}
                </span>
                <span className="legend-changed">
                  {summary.nodes.changed.length} changed
                  {summary.nodes.changed.length ? `: ${summary.nodes.changed.join(", ")}` : ""}
                </span>
                <span>
                  edges +{summary.edges.added.length} −{summary.edges.removed.length}
                </span>
              </div>
              <DiffGraph key={chosen.number} nodes={graph.nodes} edges={graph.edges} />
              <Unified text={summary.unified} />
            </>
          )}
        </section>
      </div>
    </dialog>
  );
}
