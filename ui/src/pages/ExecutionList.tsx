// Every run of the organisation, newest first: filter by status, workflow and time, page with
// the cursor, open one, cancel or delete it. Refreshes itself while a listed run is unfinished.
import { useCallback, useEffect, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { del, get, post } from "../api/client";
import type { Execution, ExecutionStatus, Page, WorkflowOut } from "../api/types";
import { ErrorBox } from "../ui/ErrorBox";
import { ListTable } from "../ui/ListTable";
import { ConfirmDialog } from "./common/ConfirmDialog";
import { between, formatDuration, formatMoment, isFinished, triggerOf } from "../runs/frames";
import { StatusBadge } from "../runs/StatusBadge";
import { useNow } from "../runs/useNow";
// Nothing here needs runs.css, but importing it loads it with the first page, before styles.css:
// loaded later, with the run view, its rules would start to win over styles.css's.
import "../runs/runs.css";
import "./pages.css";

const STATUSES: ExecutionStatus[] = ["PENDING", "RUNNING", "WAITING", "COMPLETED", "FAILED", "CANCELLED"];
const PAGE = 50;
const REFRESH_MS = 2000;

/** The time filter's choices: a window back from now, or a range the user gives. */
const WINDOWS: { value: string; label: string; ms: number | null }[] = [
  { value: "", label: "Any time", ms: null },
  { value: "1h", label: "Last hour", ms: 3_600_000 },
  { value: "24h", label: "Last 24 hours", ms: 86_400_000 },
  { value: "7d", label: "Last 7 days", ms: 7 * 86_400_000 },
  { value: "30d", label: "Last 30 days", ms: 30 * 86_400_000 },
  { value: "custom", label: "Between…", ms: null },
];

interface Filters {
  status: string;
  workflow: string;
  time: string;
  from: string;
  to: string;
}

/** A datetime-local value as the server wants it: ISO 8601 with its time zone. */
function isoOf(local: string): string | undefined {
  if (!local) return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function queryOf(filters: Filters): Record<string, string | undefined> {
  const window = WINDOWS.find((w) => w.value === filters.time);
  let since: string | undefined;
  let until: string | undefined;
  if (window?.ms) since = new Date(Date.now() - window.ms).toISOString();
  if (filters.time === "custom") {
    since = isoOf(filters.from);
    until = isoOf(filters.to);
  }
  return {
    status: filters.status || undefined,
    workflowId: filters.workflow || undefined,
    since,
    until,
  };
}

export function ExecutionList() {
  const [params, setParams] = useSearchParams();
  const filters: Filters = {
    status: params.get("status") ?? "",
    workflow: params.get("workflow") ?? "",
    time: params.get("time") ?? "",
    from: params.get("from") ?? "",
    to: params.get("to") ?? "",
  };
  const filterKey = JSON.stringify(filters);

  const [runs, setRuns] = useState<Execution[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [workflows, setWorkflows] = useState<WorkflowOut[]>([]);
  const [toDelete, setToDelete] = useState<Execution | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const shown = useRef(0);
  shown.current = runs.length;

  useEffect(() => {
    get<Page<WorkflowOut>>("/api/v1/workflows", { limit: 200 }).then(
      (page) => setWorkflows([...page.items].sort((a, b) => a.name.localeCompare(b.name))),
      () => setWorkflows([]),
    );
  }, []);

  /** Loads the first page again (as many rows as are shown, so a refresh keeps the list). */
  const load = useCallback(
    async (quiet: boolean) => {
      if (!quiet) setLoading(true);
      try {
        const limit = Math.min(200, Math.max(PAGE, shown.current));
        const page = await get<Page<Execution>>("/api/v1/executions", {
          ...queryOf(JSON.parse(filterKey) as Filters),
          limit,
        });
        setRuns(page.items);
        setNext(page.nextCursor ?? null);
        setError(null);
      } catch (err) {
        setError(err);
      } finally {
        setLoading(false);
      }
    },
    [filterKey],
  );

  useEffect(() => {
    shown.current = 0;
    void load(false);
  }, [load]);

  const unfinished = runs.some((r) => !isFinished(r.status));
  useEffect(() => {
    if (!unfinished) return;
    const timer = setInterval(() => void load(true), REFRESH_MS);
    return () => clearInterval(timer);
  }, [unfinished, load]);
  const now = useNow(unfinished);

  const loadMore = async () => {
    if (!next) return;
    setLoading(true);
    try {
      const page = await get<Page<Execution>>("/api/v1/executions", {
        ...queryOf(filters),
        limit: PAGE,
        cursor: next,
      });
      setRuns((known) => {
        const ids = new Set(known.map((r) => r.id));
        return [...known, ...page.items.filter((r) => !ids.has(r.id))];
      });
      setNext(page.nextCursor ?? null);
    } catch (err) {
      setError(err);
    } finally {
      setLoading(false);
    }
  };

  const setFilter = (name: keyof Filters, value: string) => {
    const nextParams = new URLSearchParams(params);
    if (value) nextParams.set(name, value);
    else nextParams.delete(name);
    if (name === "time" && value !== "custom") {
      nextParams.delete("from");
      nextParams.delete("to");
    }
    setParams(nextParams, { replace: true });
  };

  const cancel = async (run: Execution) => {
    setActionError(null);
    try {
      await post(`/api/v1/executions/${run.id}/cancel`);
      await load(true);
    } catch (err) {
      setActionError(err);
    }
  };

  /** Never rejects: a refusal shows on the page, as the confirmation closes either way. */
  const remove = async (run: Execution) => {
    setActionError(null);
    try {
      await del(`/api/v1/executions/${run.id}`);
      setRuns((known) => known.filter((r) => r.id !== run.id));
    } catch (err) {
      setActionError(err);
    }
  };

  const workflowKnown = !filters.workflow || workflows.some((w) => w.id === filters.workflow);

  return (
    <div className="page-padded executions-page">
      <div className="toolbar">
        <h1 className="page-title">Executions</h1>
        <span className="spacer" />
        <button type="button" className="ghost" onClick={() => void load(false)}>
          Refresh
        </button>
      </div>
      <form className="filters" role="search" aria-label="Filter executions" onSubmit={(e) => e.preventDefault()}>
        <label className="field">
          <span>Status</span>
          <select value={filters.status} onChange={(e) => setFilter("status", e.target.value)}>
            <option value="">Any status</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.toLowerCase()}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Workflow</span>
          <select value={filters.workflow} onChange={(e) => setFilter("workflow", e.target.value)}>
            <option value="">Any workflow</option>
            {!workflowKnown && <option value={filters.workflow}>{filters.workflow}</option>}
            {workflows.map((w) => (
              <option key={w.id} value={w.id}>
                {w.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Started</span>
          <select value={filters.time} onChange={(e) => setFilter("time", e.target.value)}>
            {WINDOWS.map((w) => (
              <option key={w.value} value={w.value}>
                {w.label}
              </option>
            ))}
          </select>
        </label>
        {filters.time === "custom" &&
          (["from", "to"] as const).map((end) => (
            <label key={end} className="field">
              <span>{end === "from" ? "From" : "To"}</span>
              <input type="datetime-local" value={filters[end]} onChange={(e) => setFilter(end, e.target.value)} />
            </label>
          ))}
      </form>

      <ErrorBox error={error} />
      <ErrorBox error={actionError} />

      <ListTable
        className="list executions-table"
        columns={["Status", "Workflow", "Started", "Duration", "Trigger", "Id"]}
        actions
        items={runs}
      >
        {(run) => {
          const finished = isFinished(run.status);
          const started = run.startedAt ?? run.createdAt;
          const took = finished
            ? between(started, run.finishedAt)
            : Math.max(0, now - Date.parse(started));
          return (
            <tr key={run.id}>
              <td>
                <StatusBadge status={run.status} />
              </td>
              <td>
                {run.workflowId ? (
                  <Link to={`/workflows/${run.workflowId}`}>{run.workflowName}</Link>
                ) : (
                  <span title="Sent inline, not stored">{run.workflowName}</span>
                )}
              </td>
              <td title={started}>{formatMoment(started)}</td>
              <td>{formatDuration(took)}</td>
              <td>{triggerOf(run)}</td>
              <td>
                <Link to={`/executions/${run.id}`} className="mono" aria-label={`Execution ${run.id}`} title={run.id}>
                  {run.id.slice(0, 8)}
                </Link>
              </td>
              <td className="row-actions">
                {finished ? (
                  <button
                    type="button"
                    className="ghost small"
                    aria-label={`Delete run ${run.id}`}
                    onClick={() => setToDelete(run)}
                  >
                    Delete
                  </button>
                ) : (
                  <button
                    type="button"
                    className="ghost small"
                    aria-label={`Cancel run ${run.id}`}
                    onClick={() => void cancel(run)}
                  >
                    Cancel
                  </button>
                )}
              </td>
            </tr>
          );
        }}
      </ListTable>
      {!loading && runs.length === 0 && !error && (
        <p className="empty muted">No runs{filters.status || filters.workflow || filters.time ? " match these filters" : " yet"}.</p>
      )}
      <div className="list-foot">
        {loading && <span role="status">Loading…</span>}
        {next && !loading && (
          <button type="button" className="ghost" onClick={() => void loadMore()}>
            Load more
          </button>
        )}
        {unfinished && <span className="hint">Refreshing while runs are unfinished.</span>}
      </div>

      {toDelete && (
        <ConfirmDialog
          title="Delete this run?"
          confirmLabel="Delete run"
          cancelLabel="Keep it"
          onClose={() => setToDelete(null)}
          onConfirm={() => remove(toDelete)}
        >
          <p>
            The run <code>{toDelete.id}</code> of <strong>{toDelete.workflowName}</strong>, its journal
            and its sub-workflow runs are deleted for good.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
