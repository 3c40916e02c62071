// What a run from the editor came to: its status, how long it took, the result (or the error
// and the node that failed), and the way to its execution view.
import { Link } from "react-router";
import type { ExecutionStatus } from "../api/types";
import { formatDuration, isFinished } from "./frames";
import { JsonTree } from "./JsonTree";
import { StatusBadge } from "./StatusBadge";
import { useNow } from "./useNow";
import "./runs.css";

export interface RunResultProps {
  executionId: string;
  status: ExecutionStatus | undefined;
  result: unknown;
  error: Record<string, unknown> | null | undefined;
  startedAt?: string | null;
  finishedAt?: string | null;
  /** A note to show above the result ("Ran the saved version: …"). */
  note?: string | null;
  onClear: () => void;
}

export function RunResult({
  executionId,
  status,
  result,
  error,
  startedAt,
  finishedAt,
  note,
  onClear,
}: RunResultProps) {
  const finished = isFinished(status);
  const now = useNow(!finished);
  const from = startedAt ? Date.parse(startedAt) : NaN;
  const to = finishedAt ? Date.parse(finishedAt) : now;
  const duration = Number.isNaN(from) ? null : Math.max(0, to - from);
  return (
    <section className="run-result panel" role="region" aria-label="Run result">
      <header className="run-result-head">
        <StatusBadge status={status ?? "PENDING"} />
        <span className="muted">{finished ? "took" : "running for"} {formatDuration(duration)}</span>
        <span className="spacer" />
        <Link to={`/executions/${executionId}`}>Open execution</Link>
        <button type="button" className="ghost small" onClick={onClear}>
          Clear
        </button>
      </header>
      {note && <p className="hint run-note">{note}</p>}
      <div className="run-result-body">
        {error ? (
          <RunError error={error} />
        ) : finished ? (
          <JsonTree value={result} label="result" />
        ) : (
          <p className="muted">Waiting for the run to finish…</p>
        )}
      </div>
    </section>
  );
}

/** A run's error: message, type, and the node it came from. */
export function RunError({ error }: { error: Record<string, unknown> }) {
  const node = typeof error.node === "string" ? error.node : null;
  const type = typeof error.type === "string" ? error.type : null;
  const message = typeof error.message === "string" ? error.message : JSON.stringify(error);
  return (
    <div className="error-box run-error">
      {node && (
        <div>
          Node <code>{node}</code>
          {typeof error.item === "number" && <> (item {error.item})</>}
          {typeof error.attempts === "number" && error.attempts > 1 && (
            <> after {error.attempts} attempts</>
          )}
        </div>
      )}
      <div>
        {type && <strong>{type}: </strong>}
        {message}
      </div>
    </div>
  );
}
