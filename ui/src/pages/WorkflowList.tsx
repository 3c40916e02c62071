// /workflows: the catalogue — search, filters, activation, last run, import, export, delete.
import { useEffect, useRef, useState } from "react";
import { Link } from "react-router";
import { api, del, get, post } from "../api/client";
import type { Page, WorkflowOut } from "../api/types";
import { useSession } from "../store/session";
import { Field } from "./common/Field";
import { ErrorBox } from "../ui/ErrorBox";
import { GuardedButton } from "../ui/GuardedButton";
import { EmptyState, ListTable } from "../ui/ListTable";
import { ConfirmDialog } from "./common/ConfirmDialog";
import { saveFile, safeFileName } from "./common/download";
import { formatWhen } from "./common/format";
import { whyNot } from "./common/permissions";
import { ImportDialog } from "./workflows/ImportDialog";
import { LastRunBadge } from "./workflows/LastRunBadge";
import { NewWorkflowDialog } from "./workflows/NewWorkflowDialog";
import type { WorkflowItem } from "./workflows/types";
import { useDebounced } from "./workflows/useDebounced";
import "./pages.css";

const PAGE_SIZE = 50;
type ActiveFilter = "" | "true" | "false";
type ExportFormat = "yaml" | "json";

interface RowProblem {
  name: string;
  action: string;
  error: unknown;
}

export function WorkflowList() {
  const me = useSession((s) => s.me);
  const [search, setSearch] = useState("");
  const [tag, setTag] = useState("");
  const [active, setActive] = useState<ActiveFilter>("");
  const [format, setFormat] = useState<ExportFormat>("yaml");
  const query = useDebounced(search.trim(), 300);

  const [items, setItems] = useState<WorkflowItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [round, setRound] = useState(0);
  const [knownTags, setKnownTags] = useState<string[]>([]);
  const latest = useRef(0);

  const [problem, setProblem] = useState<RowProblem | null>(null);
  const [busyIds, setBusyIds] = useState<ReadonlySet<string>>(new Set());
  const [dialog, setDialog] = useState<"new" | "import" | null>(null);
  const [deleting, setDeleting] = useState<WorkflowItem | null>(null);

  const filters = { search: query, tag, active, limit: PAGE_SIZE };

  const remember = (found: WorkflowItem[]) =>
    setKnownTags((before) => {
      const all = new Set(before);
      for (const item of found) for (const t of item.tags) all.add(t);
      return all.size === before.length ? before : [...all].sort();
    });

  useEffect(() => {
    const mine = ++latest.current;
    setLoading(true);
    get<Page<WorkflowItem>>("/api/v1/workflows", { search: query, tag, active, limit: PAGE_SIZE }).then(
      (page) => {
        if (mine !== latest.current) return; // a newer filter answered first
        setItems(page.items);
        setCursor(page.nextCursor ?? null);
        setError(null);
        setLoading(false);
        remember(page.items);
      },
      (err: unknown) => {
        if (mine !== latest.current) return;
        setError(err);
        setLoading(false);
      },
    );
  }, [query, tag, active, round]);

  const loadMore = async () => {
    if (!cursor) return;
    const mine = latest.current;
    setLoading(true);
    try {
      const page = await get<Page<WorkflowItem>>("/api/v1/workflows", { ...filters, cursor });
      if (mine !== latest.current) return;
      setItems((before) => [...before, ...page.items]);
      setCursor(page.nextCursor ?? null);
      remember(page.items);
    } catch (err) {
      setError(err);
    } finally {
      setLoading(false);
    }
  };

  const busy = (id: string, on: boolean) =>
    setBusyIds((before) => {
      const next = new Set(before);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });

  const replace = (id: string, change: (item: WorkflowItem) => WorkflowItem) =>
    setItems((before) => before.map((item) => (item.id === id ? change(item) : item)));

  const toggle = async (item: WorkflowItem, on: boolean) => {
    setProblem(null);
    busy(item.id, true);
    replace(item.id, (w) => ({ ...w, active: on }));
    try {
      const path = `/api/v1/workflows/${encodeURIComponent(item.id)}/${on ? "activate" : "deactivate"}`;
      const saved = await post<WorkflowOut>(path);
      // the activation answer carries no last run: keep the one shown
      replace(item.id, (w) => ({ ...w, ...saved, lastRun: w.lastRun }));
    } catch (err) {
      replace(item.id, (w) => ({ ...w, active: !on }));
      setProblem({ name: item.name, action: on ? "activate" : "deactivate", error: err });
    } finally {
      busy(item.id, false);
    }
  };

  const exportOne = async (item: WorkflowItem) => {
    setProblem(null);
    try {
      const text = await api<string>("GET", `/api/v1/workflows/${encodeURIComponent(item.id)}/export`, {
        query: { format },
        text: true,
      });
      saveFile(
        text,
        `${safeFileName(item.name)}.${format}`,
        format === "json" ? "application/json" : "application/yaml",
      );
    } catch (err) {
      setProblem({ name: item.name, action: "export", error: err });
    }
  };

  const cannotWrite = whyNot(me, "workflows:write");
  const cannotDelete = whyNot(me, "workflows:delete");
  // a workflow shared from another organisation: the share decides, not the role here
  const own = (item: WorkflowItem) => !me || item.orgId === me.orgId;
  const filtered = Boolean(query || tag || active);
  const tags = tag && !knownTags.includes(tag) ? [...knownTags, tag].sort() : knownTags;

  return (
    <div className="page-padded workflow-list">
      <div className="toolbar">
        <h1 className="page-title">Workflows</h1>
        <span className="spacer" />
        <GuardedButton
          className="ghost"
          onClick={() => setDialog("import")}
          blocked={cannotWrite}
          title="Import a JSON or YAML workflow file"
        >
          Import
        </GuardedButton>
        <GuardedButton onClick={() => setDialog("new")} blocked={cannotWrite}>
          New workflow
        </GuardedButton>
      </div>

      <div className="toolbar filters" role="search">
        <label className="inline-field grow">
          <span className="visually-hidden">Search workflows</span>
          <input
            type="search"
            placeholder="Search workflows"
            aria-label="Search workflows"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
        </label>
        <Field label="Filter by tag" className="inline">
          {(control) => (
            <select {...control} value={tag} onChange={(e) => setTag(e.target.value)}>
              <option value="">All tags</option>
              {tags.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Filter by status" className="inline">
          {(control) => (
            <select {...control} value={active} onChange={(e) => setActive(e.target.value as ActiveFilter)}>
              <option value="">Active and inactive</option>
              <option value="true">Active only</option>
              <option value="false">Inactive only</option>
            </select>
          )}
        </Field>
        <Field label="Export format" className="inline">
          {(control) => (
            <select {...control} value={format} onChange={(e) => setFormat(e.target.value as ExportFormat)}>
              <option value="yaml">YAML</option>
              <option value="json">JSON</option>
            </select>
          )}
        </Field>
      </div>

      {problem && (
        <div className="row-problem">
          <p className="field-error">
            Could not {problem.action} “{problem.name}”:{" "}
            <button type="button" className="link-button" onClick={() => setProblem(null)}>
              Dismiss
            </button>
          </p>
          <ErrorBox error={problem.error} />
        </div>
      )}
      <ErrorBox error={error} />

      {items.length === 0 && !loading && !error ? (
        filtered ? (
          <div className="empty panel">
            <p>No workflow matches these filters.</p>
          </div>
        ) : (
          <EmptyState title="No workflows yet.">
            Start one with <em>New workflow</em>, or <em>Import</em> a YAML or JSON file — the{" "}
            <code>examples/</code> folder of FlowForge has a few to try.
          </EmptyState>
        )
      ) : (
        <ListTable
          label="Workflows"
          columns={["Name", "Tags", "Active", "Last run", "Version", "Updated"]}
          actions
          items={items}
          busy={loading}
        >
          {(item) => {
            const writeBlocked = own(item) ? cannotWrite : null;
            const deleteBlocked = own(item) ? cannotDelete : null;
            return (
              <tr key={item.id}>
                <td>
                  <Link to={`/workflows/${encodeURIComponent(item.id)}`} className="strong-link">
                    {item.name}
                  </Link>
                  {item.description && <div className="muted small">{item.description}</div>}
                  {!own(item) && <div className="muted small">shared with you</div>}
                </td>
                <td>
                  <ul className="chips">
                    {item.tags.map((t) => (
                      <li key={t}>
                        <button
                          type="button"
                          className="chip"
                          aria-pressed={tag === t}
                          title={tag === t ? "Show every tag" : `Only workflows tagged ${t}`}
                          onClick={() => setTag(tag === t ? "" : t)}
                        >
                          {t}
                        </button>
                      </li>
                    ))}
                  </ul>
                </td>
                <td>
                  <label className="switch" title={writeBlocked ?? (item.active ? "Deactivate its triggers" : "Activate its triggers")}>
                    <input
                      type="checkbox"
                      role="switch"
                      aria-label={`Active: ${item.name}`}
                      checked={item.active}
                      disabled={busyIds.has(item.id) || Boolean(writeBlocked)}
                      onChange={(e) => void toggle(item, e.target.checked)}
                    />
                    <span className="switch-track" aria-hidden="true" />
                  </label>
                </td>
                <td className="nowrap">
                  <LastRunBadge run={item.lastRun} />
                </td>
                <td>v{item.version}</td>
                <td className="nowrap" title={item.updatedAt}>
                  {formatWhen(item.updatedAt)}
                </td>
                <td className="row-actions">
                  <Link
                    className="button ghost"
                    to={`/workflows/${encodeURIComponent(item.id)}/settings`}
                    aria-label={`Settings of ${item.name}`}
                    title="Triggers and sharing"
                  >
                    Settings
                  </Link>
                  <button
                    type="button"
                    className="ghost"
                    aria-label={`Export ${item.name}`}
                    title={`Download as ${format.toUpperCase()}`}
                    onClick={() => void exportOne(item)}
                  >
                    Export
                  </button>
                  <GuardedButton
                    className="ghost danger-text"
                    aria-label={`Delete ${item.name}`}
                    blocked={deleteBlocked}
                    onClick={() => setDeleting(item)}
                  >
                    Delete
                  </GuardedButton>
                </td>
              </tr>
            );
          }}
        </ListTable>
      )}

      <div className="list-footer">
        {loading && (
          <span role="status" className="muted">
            Loading…
          </span>
        )}
        {cursor && !loading && (
          <button type="button" className="ghost" onClick={() => void loadMore()}>
            Load more
          </button>
        )}
      </div>

      {dialog === "new" && <NewWorkflowDialog onClose={() => setDialog(null)} />}
      {dialog === "import" && (
        <ImportDialog
          onClose={() => setDialog(null)}
          onImported={() => setRound((r) => r + 1)}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title="Delete workflow"
          confirmLabel="Delete workflow"
          onClose={() => setDeleting(null)}
          onConfirm={() => del(`/api/v1/workflows/${encodeURIComponent(deleting.id)}`)}
          onDone={() => setItems((before) => before.filter((w) => w.id !== deleting.id))}
        >
          <p>
            Delete <strong>{deleting.name}</strong>? Its triggers stop at once and its shares end;
            its past runs are kept.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
