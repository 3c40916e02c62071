// One node of a run, as it was at the scrubber's moment: each attempt (and for_each item) with
// its status, timings, port, input, output and error; and "Re-run from this node".
import type { WorkflowNode } from "../api/types";
import type { RunStatus } from "../graph/types";
import type { Attempt } from "./frames";
import { formatDuration } from "./frames";
import { JsonTree } from "./JsonTree";
import { clockTime } from "./Scrubber";
import { StatusBadge } from "./StatusBadge";
import type { Progress } from "./useLiveRun";
import { useNow } from "./useNow";
import "./runs.css";

export interface NodePanelProps {
  nodeId: string;
  node: WorkflowNode | undefined;
  status: RunStatus | undefined;
  attempts: Attempt[];
  progress: Progress[];
  /** False when the run's journal cannot be re-run (a run still going on). */
  canRerun: boolean;
  /** True when the scrubber is not at the end: the panel shows the past. */
  past: boolean;
  /** The time of the frame shown when in the past: "so far" durations end there. */
  moment?: string | null;
  onRerun: () => void;
  onClose: () => void;
}

/** Still going at the moment shown: started, or parked by a wait. */
function open(a: Attempt): boolean {
  return a.endedAt == null && (a.status === "started" || a.status === "waiting");
}

function attemptTitle(a: Attempt): string {
  if (a.status === "skipped") return "Skipped";
  const item = a.item == null ? "" : `Item ${a.item}, `;
  return `${item}attempt ${a.attempt}`;
}

export function NodePanel({
  nodeId,
  node,
  status,
  attempts,
  progress,
  canRerun,
  past,
  moment,
  onRerun,
  onClose,
}: NodePanelProps) {
  const ticking = useNow(!past && attempts.some(open));
  const now = past && moment ? Date.parse(moment) : ticking;
  return (
    <section className="node-panel" role="region" aria-label={`Node ${nodeId}`}>
      <header className="node-panel-head">
        <div>
          <h2>{node?.name || nodeId}</h2>
          <div className="muted mono small">
            {node?.name && node.name !== nodeId ? `${nodeId} · ` : ""}
            {node?.type ?? "unknown type"}
          </div>
        </div>
        <span className="spacer" />
        {status ? <StatusBadge status={status} /> : <span className="badge">not reached</span>}
        <button type="button" className="ghost small" aria-label="Close node panel" onClick={onClose}>
          ✕
        </button>
      </header>
      {past && <p className="hint">As it was at the chosen frame.</p>}
      <div className="node-panel-actions">
        <button
          type="button"
          className="ghost"
          onClick={onRerun}
          disabled={!canRerun}
          title={canRerun ? "Start a new run from here" : "Wait for the run to end"}
        >
          Re-run from this node
        </button>
      </div>
      {progress.map((p) => (
        <div key={`${p.item ?? ""}`} className="node-progress" role="status">
          {p.item != null && <span>Item {p.item}: </span>}
          {p.total ? (
            <>
              <progress value={p.done} max={p.total} aria-label={`Progress of ${nodeId}`} /> {p.done} of {p.total}
            </>
          ) : (
            <span>{p.done} done</span>
          )}
          {p.message && <span className="muted"> — {p.message}</span>}
        </div>
      ))}
      {attempts.length === 0 && <p className="muted">This node had not run at this moment.</p>}
      <ol className="attempts">
        {attempts.map((a) => {
          const duration =
            a.durationMs ??
            (a.startedAt && open(a) ? Math.max(0, now - Date.parse(a.startedAt)) : null);
          const label = `${a.item == null ? "" : `item ${a.item} `}attempt ${a.attempt} of ${nodeId}`;
          return (
            <li key={`${a.item ?? ""}:${a.attempt}`} className="attempt">
              <h3>
                {attemptTitle(a)} <StatusBadge status={a.status === "started" ? "running" : a.status} />
              </h3>
              <dl className="attempt-facts">
                {a.status !== "skipped" && a.startedAt && (
                  <>
                    <dt>Started</dt>
                    <dd title={a.startedAt}>{clockTime(a.startedAt)}</dd>
                    <dt>Duration</dt>
                    <dd>
                      {formatDuration(duration)}
                      {open(a) && " so far"}
                    </dd>
                  </>
                )}
                {a.port && (
                  <>
                    <dt>Port</dt>
                    <dd className="mono">{a.port}</dd>
                  </>
                )}
                {a.wakeAt && (
                  <>
                    <dt>Wakes at</dt>
                    <dd title={a.wakeAt}>{new Date(a.wakeAt).toLocaleString()}</dd>
                  </>
                )}
              </dl>
              {a.error && (
                <div className="error-box attempt-error">
                  {typeof a.error.type === "string" && <strong>{a.error.type}: </strong>}
                  {typeof a.error.message === "string" ? a.error.message : JSON.stringify(a.error)}
                </div>
              )}
              {a.status !== "skipped" && <JsonTree value={a.input} label={`input of ${label}`} openDepth={1} />}
              {a.output !== null && a.output !== undefined && (
                <JsonTree value={a.output} label={`output of ${label}`} openDepth={1} />
              )}
            </li>
          );
        })}
      </ol>
    </section>
  );
}
