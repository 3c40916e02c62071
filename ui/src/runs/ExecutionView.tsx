// One run: its graph as the version it ran, lit by the journal at the scrubber's moment (live
// while it goes on), a panel per node with every attempt, and retry / re-run / cancel.
import { useCallback, useMemo, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { Background, Controls, ReactFlow, type NodeChange } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { get, post } from "../api/client";
import type { Execution, ExecutionStatus, Frame, NodeType } from "../api/types";
import { toFlow } from "../graph/convert";
import type { StepNode } from "../graph/types";
import { statusEdge, stepNodeTypes } from "../editor/StepNode";
import { useSession } from "../store/session";
import { ErrorBox } from "../ui/ErrorBox";
import { useAction } from "../ui/useAction";
import { useLoad } from "../ui/useLoad";
import { loadDefinition, loadNodeTypes, type RanDefinition } from "./definition";
import {
  between,
  formatDuration,
  formatMoment,
  frameTime,
  isFinished,
  lastInput,
  lastSeq,
  nodeDetail,
  statusAt,
  triggerOf,
} from "./frames";
import { JsonTree } from "./JsonTree";
import { NodePanel } from "./NodePanel";
import { RerunDialog } from "./RerunDialog";
import { RunError } from "./RunResult";
import { Scrubber } from "./Scrubber";
import { StatusBadge } from "./StatusBadge";
import { useLiveRun } from "./useLiveRun";
import { useNow } from "./useNow";
import "./runs.css";

interface Loaded {
  run: Execution;
  frames: Frame[];
  definition: RanDefinition;
  nodeTypes: Record<string, NodeType>;
}

async function loadRun(executionId: string): Promise<Loaded> {
  const run = await get<Execution>(`/api/v1/executions/${encodeURIComponent(executionId)}`, {
    frames: true,
  });
  const frames = [...(run.frames ?? [])].sort((a, b) => a.seq - b.seq);
  const [definition, nodeTypes] = await Promise.all([
    loadDefinition(run, frames),
    // without node types the graph still draws, with plain nodes
    loadNodeTypes().catch(() => ({}) as Record<string, NodeType>),
  ]);
  return { run, frames, definition, nodeTypes };
}

export default function ExecutionView() {
  const { executionId = "" } = useParams();
  // a new run (after a retry or re-run) starts afresh: its own scrubber, panel and stream
  return <RunView key={executionId} executionId={executionId} />;
}

function RunView({ executionId }: { executionId: string }) {
  const loaded = useLoad(() => loadRun(executionId), [executionId]);
  if (loaded.error) {
    return (
      <div className="page-padded">
        <p>
          <Link to="/executions">← Executions</Link>
        </p>
        <ErrorBox error={loaded.error} />
        <button type="button" className="ghost" onClick={loaded.reload}>
          Try again
        </button>
      </div>
    );
  }
  if (!loaded.data) {
    return (
      <div className="loading" role="status">
        Loading the run…
      </div>
    );
  }
  return <RunLoaded executionId={executionId} loaded={loaded.data} />;
}

function RunLoaded({ executionId, loaded }: { executionId: string; loaded: Loaded }) {
  const navigate = useNavigate();
  const theme = useSession((s) => s.theme);
  const [params, setParams] = useSearchParams();
  const selected = params.get("node");
  const [upTo, setUpTo] = useState<number | null>(null);
  const [rerunOf, setRerunOf] = useState<string | null>(null);
  const action = useAction();

  const { workflow } = loaded.definition;
  const wasLive = !isFinished(loaded.run.status);
  const live = useLiveRun(executionId, loaded.frames, wasLive);
  const frames = wasLive ? live.frames : loaded.frames;
  const run: Execution = live.execution
    ? { ...loaded.run, ...live.execution }
    : { ...loaded.run, status: wasLive ? liveStatus(frames, workflow, loaded.run.status) : loaded.run.status };
  const finished = isFinished(run.status);
  const following = wasLive && !live.execution;

  const end = lastSeq(frames);
  const at = upTo === null ? end : Math.min(upTo, end);
  const past = at < end;
  const onScrub = useCallback((seq: number) => setUpTo(seq >= end ? null : seq), [end]);

  const state = useMemo(
    () => statusAt(frames, at, workflow, { runError: finished ? run.error : null }),
    [frames, at, workflow, finished, run.error],
  );

  const flow = useMemo(() => toFlow(workflow, loaded.nodeTypes), [workflow, loaded.nodeTypes]);
  const nodes = useMemo(
    () =>
      flow.nodes.map(
        (n): StepNode => ({
          ...n,
          selected: n.id === selected,
          data: { ...n.data, status: state.nodes[n.id] },
        }),
      ),
    [flow.nodes, state.nodes, selected],
  );
  const edges = useMemo(
    () => flow.edges.map((e) => statusEdge(e, state.edges[e.id])),
    [flow.edges, state.edges],
  );

  const select = useCallback(
    (nodeId: string | null) => {
      const next = new URLSearchParams(params);
      if (nodeId) next.set("node", nodeId);
      else next.delete("node");
      setParams(next, { replace: true });
    },
    [params, setParams],
  );
  const onNodesChange = useCallback(
    (changes: NodeChange<StepNode>[]) => {
      // a click or Enter on a node selects it; the panel follows the selection
      for (const change of changes) {
        if (change.type === "select" && change.selected) select(change.id);
      }
    },
    [select],
  );

  const act = (path: string, then: (run: Execution) => void) =>
    action.run(async () => then(await post<Execution>(path)));
  const base = `/api/v1/executions/${encodeURIComponent(executionId)}`;
  const retry = () => act(`${base}/retry`, (next) => navigate(`/executions/${next.id}`));
  const cancel = () => act(`${base}/cancel`, () => undefined);

  const selectedNode = workflow.nodes.find((n) => n.id === selected);
  const progress = selected
    ? Object.values(live.progress).filter((p) => p.nodeId === selected && following)
    : [];

  return (
    <div className="execution-view">
      <RunHeader run={run} definition={loaded.definition} following={following} />
      <div className="execution-actions toolbar">
        {run.status === "FAILED" && (
          <button type="button" disabled={action.busy} onClick={() => void retry()}>
            Retry from failed node
          </button>
        )}
        {!finished && (
          <button type="button" className="ghost" disabled={action.busy} onClick={() => void cancel()}>
            Cancel run
          </button>
        )}
        {loaded.definition.note && <span className="hint">{loaded.definition.note}</span>}
        <ErrorBox error={action.error} />
        <ErrorBox error={live.error} />
      </div>
      <div className="execution-body">
        <div className="execution-canvas" aria-label={`Graph of the run at frame ${at} of ${end}`} role="group">
          <ReactFlow<StepNode>
            nodes={nodes}
            edges={edges}
            nodeTypes={stepNodeTypes}
            onNodesChange={onNodesChange}
            nodesDraggable={false}
            nodesConnectable={false}
            edgesFocusable={false}
            deleteKeyCode={null}
            colorMode={theme}
            fitView
            fitViewOptions={{ padding: 0.2 }}
            minZoom={0.2}
          >
            <Background />
            <Controls showInteractive={false} />
          </ReactFlow>
        </div>
        <aside className="execution-side panel">
          {selected ? (
            <NodePanel
              nodeId={selected}
              node={selectedNode}
              status={state.nodes[selected]}
              attempts={nodeDetail(frames, selected, at)}
              progress={progress}
              canRerun={finished}
              past={past}
              moment={state.current ? frameTime(state.current) : null}
              onRerun={() => setRerunOf(selected)}
              onClose={() => select(null)}
            />
          ) : (
            <RunSummary run={run} frames={frames} at={at} past={past} statuses={state.nodes} onSelect={select} />
          )}
        </aside>
      </div>
      <Scrubber frames={frames} value={at} end={end} onChange={onScrub} live={following} />
      {rerunOf && (
        <RerunDialog
          executionId={executionId}
          nodeId={rerunOf}
          recorded={lastInput(frames, rerunOf)}
          onClose={() => setRerunOf(null)}
          onStarted={(next) => {
            setRerunOf(null);
            navigate(`/executions/${next.id}`);
          }}
        />
      )}
    </div>
  );
}

/** A followed run's status from its journal: the stream only says how it ended. */
function liveStatus(frames: Frame[], workflow: RanDefinition["workflow"], loaded: ExecutionStatus): ExecutionStatus {
  if (frames.length === 0) return loaded;
  const now = Object.values(statusAt(frames, Number.POSITIVE_INFINITY, workflow).nodes);
  if (now.some((s) => s === "running" || s === "retrying")) return "RUNNING";
  if (now.some((s) => s === "waiting")) return "WAITING";
  return loaded === "PENDING" ? "RUNNING" : loaded;
}

function RunHeader({
  run,
  definition,
  following,
}: {
  run: Execution;
  definition: RanDefinition;
  following: boolean;
}) {
  const now = useNow(following);
  const started = run.startedAt ?? run.createdAt;
  const took = run.finishedAt ? between(started, run.finishedAt) : Math.max(0, now - Date.parse(started));
  return (
    <header className="execution-head">
      <div className="execution-title">
        <Link to="/executions" className="muted">
          Executions
        </Link>
        <span className="muted" aria-hidden="true">
          /
        </span>
        <h1>
          {run.workflowId ? (
            <Link to={`/workflows/${run.workflowId}`} title="Open in the editor">
              {run.workflowName}
            </Link>
          ) : (
            run.workflowName
          )}
        </h1>
        {definition.version !== null && <span className="muted">version {definition.version}</span>}
        <StatusBadge status={run.status} />
        {following && <span className="badge running live-badge">live</span>}
      </div>
      <dl className="execution-facts">
        <div>
          <dt>Started</dt>
          <dd title={started}>{formatMoment(started)}</dd>
        </div>
        <div>
          <dt>Finished</dt>
          <dd title={run.finishedAt ?? ""}>{formatMoment(run.finishedAt)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{formatDuration(took)}</dd>
        </div>
        <div>
          <dt>Trigger</dt>
          <dd>{triggerOf(run)}</dd>
        </div>
        {run.retryOf && <OtherRun term="Retry of" id={run.retryOf} name={`Original run ${run.retryOf}`} />}
        {run.parentId && <OtherRun term="Parent run" id={run.parentId} name={`Parent run ${run.parentId}`} />}
        <div>
          <dt>Id</dt>
          <dd className="mono small">{run.id}</dd>
        </div>
      </dl>
    </header>
  );
}

/** A fact of the header that is another run: a link to it, by the start of its id. */
function OtherRun({ term, id, name }: { term: string; id: string; name: string }) {
  return (
    <div>
      <dt>{term}</dt>
      <dd>
        <Link to={`/executions/${id}`} aria-label={name} className="mono">
          {id.slice(0, 8)}
        </Link>
      </dd>
    </div>
  );
}

/** With no node chosen: the run's input and outcome, and its steps in the order they ran. */
function RunSummary({
  run,
  frames,
  at,
  past,
  statuses,
  onSelect,
}: {
  run: Execution;
  frames: Frame[];
  at: number;
  past: boolean;
  statuses: Record<string, string>;
  onSelect: (nodeId: string) => void;
}) {
  const steps = useMemo(() => {
    const order: string[] = [];
    const took = new Map<string, number>();
    for (const frame of frames) {
      if (frame.seq > at) break;
      if (!order.includes(frame.nodeId)) order.push(frame.nodeId);
      if (frame.durationMs != null) took.set(frame.nodeId, (took.get(frame.nodeId) ?? 0) + frame.durationMs);
    }
    return order.map((id) => ({ id, ms: took.get(id) ?? null }));
  }, [frames, at]);
  const finished = isFinished(run.status);
  return (
    <section className="run-summary" role="region" aria-label="Run summary">
      <h2>Steps</h2>
      {steps.length === 0 && <p className="muted">No step had started at this moment.</p>}
      <ol className="step-list">
        {steps.map((s) => (
          <li key={s.id}>
            <button type="button" className="ghost step-button" aria-label={`Show node ${s.id}`} onClick={() => onSelect(s.id)}>
              <span className="mono">{s.id}</span>
              <span className="spacer" />
              {statuses[s.id] && <StatusBadge status={statuses[s.id]!} />}
              <span className="muted small">{formatDuration(s.ms)}</span>
            </button>
          </li>
        ))}
      </ol>
      <p className="hint">Choose a node on the graph or above to see its attempts.</p>
      <JsonTree value={run.input} label="run input" openDepth={1} />
      {past && (finished || run.error) ? (
        <p className="hint">The run's outcome is shown at its last frame.</p>
      ) : run.error ? (
        <>
          <h2>Error</h2>
          <RunError error={run.error} />
        </>
      ) : finished ? (
        <JsonTree value={run.result} label="run result" openDepth={2} />
      ) : null}
    </section>
  );
}
