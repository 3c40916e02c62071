// The right panel of the editor for one selected node: its id and name, what the server finds
// wrong with it, and its parameters, settings and notes.
import { useEffect, useMemo, useState } from "react";
import type { KeyboardEvent } from "react";
import type { Execution, NodeType, Workflow, WorkflowNode } from "../../api/types";
import { useEditor } from "../../store/editor";
import { CredentialPicker } from "./CredentialPicker";
import { ExpressionEnvContext, previewExpression } from "./expressionEnv";
import type { ExpressionEnv } from "./expressionEnv";
import { NodeSettings } from "./NodeSettings";
import { checkNodeId } from "./nodeSettings";
import { FieldEditor, SchemaForm } from "./SchemaForm";
import type { JsonSchema } from "./schemaFields";
import { scopeOf } from "./scope";
import { flushDrafts, useDraft } from "./useDraft";
import { isPlainObject } from "./values";
import type { Params } from "./values";
import "./inspector.css";

export function NodeInspector({ nodeId }: { nodeId: string }) {
  const workflow = useEditor((s) => s.workflow);
  const nodeTypes = useEditor((s) => s.nodeTypes);
  const problems = useEditor((s) => s.problems);
  const lastRun = useEditor((s) => s.lastRun);
  const updateNode = useEditor((s) => s.updateNode);
  const renameNode = useEditor((s) => s.renameNode);
  const node = workflow?.nodes.find((n) => n.id === nodeId);
  if (!workflow || !node) {
    return (
      <aside className="inspector" aria-label="Node inspector">
        <p className="inspector-muted">No node “{nodeId}” in this workflow.</p>
      </aside>
    );
  }
  return (
    <InspectorView
      // A new node is a new form: drafts of the previous one are flushed as it unmounts.
      key={node.id}
      workflow={workflow}
      node={node}
      nodeType={nodeTypes[node.type]}
      problems={problems[node.id] ?? []}
      lastRun={lastRun}
      updateNode={updateNode}
      renameNode={renameNode}
    />
  );
}

export interface InspectorViewProps {
  workflow: Workflow;
  node: WorkflowNode;
  nodeType: NodeType | undefined;
  problems: string[];
  lastRun: Execution | null;
  updateNode: (id: string, patch: Partial<WorkflowNode>) => void;
  /** Answers why the id cannot be used, or null when the node was renamed. */
  renameNode: (oldId: string, newId: string) => string | null | void;
}

type Tab = "parameters" | "settings" | "notes";
const TABS: { id: Tab; label: string }[] = [
  { id: "parameters", label: "Parameters" },
  { id: "settings", label: "Settings" },
  { id: "notes", label: "Notes" },
];

/** The inspector for given data: the store-free part, for the editor page and for tests. */
export function InspectorView({ workflow, node, nodeType, problems, lastRun, updateNode, renameNode }: InspectorViewProps) {
  const [tab, setTab] = useState<Tab>("parameters");
  const prefix = `inspector-${node.id}`;
  const env = useExpressionScope(workflow, node, lastRun);

  const selectTab = (next: Tab) => {
    setTab(next);
    document.getElementById(`${prefix}-tab-${next}`)?.focus();
  };
  const onTabKey = (event: KeyboardEvent<HTMLButtonElement>) => {
    const i = TABS.findIndex((t) => t.id === tab);
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (step !== 0) {
      event.preventDefault();
      selectTab(TABS[(i + step + TABS.length) % TABS.length]!.id);
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      selectTab(TABS[event.key === "Home" ? 0 : TABS.length - 1]!.id);
    }
  };

  return (
    <ExpressionEnvContext.Provider value={env}>
      <aside
        className="inspector"
        aria-label="Node inspector"
        onKeyDown={(event) => {
          // Before the editor's own Ctrl+S (on window) saves the store: put pending typing in it.
          if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") flushDrafts();
        }}
      >
        <InspectorHeader workflow={workflow} node={node} nodeType={nodeType} updateNode={updateNode} renameNode={renameNode} prefix={prefix} />

        {problems.length > 0 && (
          <div className="inspector-problems" role="alert">
            <strong>
              {problems.length === 1 ? "1 problem" : `${problems.length} problems`} with this node
            </strong>
            <ul>
              {problems.map((p, i) => (
                <li key={i}>{p}</li>
              ))}
            </ul>
          </div>
        )}

        <div className="inspector-tabs" role="tablist" aria-label="Node sections">
          {TABS.map((t) => (
            <button
              key={t.id}
              id={`${prefix}-tab-${t.id}`}
              type="button"
              role="tab"
              className="inspector-tab"
              aria-selected={tab === t.id}
              aria-controls={`${prefix}-panel-${t.id}`}
              tabIndex={tab === t.id ? 0 : -1}
              onClick={() => setTab(t.id)}
              onKeyDown={onTabKey}
            >
              {t.label}
            </button>
          ))}
        </div>

        {/* Not aria-labelledby its tab: get_by_label("Notes") must find the notes field alone. */}
        <div className="inspector-panel" role="tabpanel" id={`${prefix}-panel-${tab}`}>
          {tab === "parameters" && (
            <ParametersTab node={node} nodeType={nodeType} updateNode={updateNode} prefix={prefix} />
          )}
          {tab === "settings" && (
            <NodeSettings
              node={node}
              nodeType={nodeType}
              idPrefix={`${prefix}-settings`}
              onPatch={(patch) => updateNode(node.id, patch)}
            />
          )}
          {tab === "notes" && <NotesTab node={node} updateNode={updateNode} prefix={prefix} />}
        </div>
      </aside>
    </ExpressionEnvContext.Provider>
  );
}

/** Names in scope for the node's expressions, and the run its previews evaluate against. */
function useExpressionScope(workflow: Workflow, node: WorkflowNode, lastRun: Execution | null): ExpressionEnv {
  const forEach = Boolean(node.for_each);
  const ranItems = Boolean(lastRun?.frames?.some((f) => f.nodeId === node.id && f.item === 0));
  const [itemSample, setItemSample] = useState<{ known: boolean; value?: unknown }>({ known: false });

  // item's keys come from the for_each list of the last run, evaluated by the server.
  useEffect(() => {
    if (!forEach || !lastRun || !node.for_each) {
      setItemSample({ known: false });
      return;
    }
    const controller = new AbortController();
    previewExpression(node.for_each, { executionId: lastRun.id, nodeId: node.id, item: null }, controller.signal).then(
      (answer) => {
        if (controller.signal.aborted) return;
        const first = answer.ok && Array.isArray(answer.value) && answer.value.length > 0 ? answer.value[0] : undefined;
        setItemSample(first === undefined ? { known: false } : { known: true, value: first });
      },
      () => undefined,
    );
    return () => controller.abort();
  }, [forEach, lastRun, node.for_each, node.id]);

  return useMemo(
    () => ({
      scope: scopeOf({ workflow, nodeId: node.id, forEach, lastRun, itemSample }),
      nodeId: node.id,
      executionId: lastRun?.id ?? null,
      item: forEach && ranItems ? 0 : null,
    }),
    [workflow, node.id, forEach, lastRun, itemSample, ranItems],
  );
}

function InspectorHeader({
  workflow,
  node,
  nodeType,
  updateNode,
  renameNode,
  prefix,
}: Pick<InspectorViewProps, "workflow" | "node" | "nodeType" | "updateNode" | "renameNode"> & { prefix: string }) {
  const [idText, setIdText] = useState(node.id);
  const [idError, setIdError] = useState<string | null>(null);
  const name = useDraft(node.name ?? "", (text) => updateNode(node.id, { name: text.trim() === "" ? null : text }));

  const rename = () => {
    const candidate = idText.trim();
    if (candidate === node.id) {
      setIdError(null);
      setIdText(node.id);
      return;
    }
    const problem = checkNodeId(candidate, node.id, workflow.nodes.map((n) => n.id));
    if (problem) {
      setIdError(problem);
      return;
    }
    const refused = renameNode(node.id, candidate);
    setIdError(refused ? refused : null);
  };

  const idId = `${prefix}-id`;
  const nameId = `${prefix}-name`;
  return (
    <header className="inspector-header">
      <h2 className="inspector-title">{node.name || node.id}</h2>
      <div className="inspector-type">
        <code>{node.type}</code>
        {nodeType?.docsUrl && (
          <a href={nodeType.docsUrl} target="_blank" rel="noreferrer">
            Docs
          </a>
        )}
      </div>
      {nodeType ? (
        <p className="inspector-description">{nodeType.description}</p>
      ) : (
        <p className="field-error">The server has no node type “{node.type}”: its parameters are shown as JSON.</p>
      )}
      <div className="inspector-names">
        <div className="field">
          <label htmlFor={idId}>Node id</label>
          <input
            id={idId}
            value={idText}
            spellCheck={false}
            autoComplete="off"
            aria-invalid={idError ? true : undefined}
            aria-describedby={idError ? `${idId}-error` : `${idId}-hint`}
            onChange={(event) => {
              setIdText(event.currentTarget.value);
              setIdError(null);
            }}
            onBlur={rename}
            onKeyDown={(event) => {
              if (event.key === "Enter") {
                event.preventDefault();
                rename();
              } else if (event.key === "Escape") {
                event.stopPropagation();
                setIdText(node.id);
                setIdError(null);
              }
            }}
          />
          {idError ? (
            <div id={`${idId}-error`} className="field-error" role="alert">
              {idError}
            </div>
          ) : (
            <div id={`${idId}-hint`} className="hint">
              Expressions name it as <code>nodes.{node.id}.output</code>; renaming updates them.
            </div>
          )}
        </div>
        <div className="field">
          <label htmlFor={nameId}>Display name</label>
          <input
            id={nameId}
            value={name.draft}
            maxLength={200}
            placeholder={node.id}
            onChange={(event) => name.set(event.currentTarget.value)}
            onBlur={name.flush}
          />
        </div>
      </div>
    </header>
  );
}

function ParametersTab({
  node,
  nodeType,
  updateNode,
  prefix,
}: Pick<InspectorViewProps, "node" | "nodeType" | "updateNode"> & { prefix: string }) {
  const params = (node.params ?? {}) as Params;
  const draft = useDraft<Params>(params, (next) => updateNode(node.id, { params: next }));
  return (
    <div className="parameters" onBlur={draft.flush}>
      {nodeType?.credentialSchema && (
        <CredentialPicker
          id={`${prefix}-credential`}
          nodeType={nodeType}
          value={node.credential}
          onChange={(credential) => updateNode(node.id, { credential })}
        />
      )}
      {nodeType ? (
        <SchemaForm
          schema={nodeType.inputSchema as JsonSchema}
          value={draft.draft}
          onChange={draft.set}
          idPrefix={`${prefix}-param`}
        />
      ) : (
        // Without a node type, the whole params object is one JSON field.
        <FieldEditor
          id={`${prefix}-params`}
          field={{ kind: "json", name: "params", title: "Parameters", required: false, nullable: false, hasDefault: false }}
          value={draft.draft}
          onChange={(next) => draft.set(isPlainObject(next) ? next : {})}
        />
      )}
    </div>
  );
}

function NotesTab({ node, updateNode, prefix }: Pick<InspectorViewProps, "node" | "updateNode"> & { prefix: string }) {
  const notes = useDraft(node.notes ?? "", (text) => updateNode(node.id, { notes: text === "" ? null : text }));
  const id = `${prefix}-notes`;
  return (
    <div className="field">
      <label htmlFor={id}>Notes</label>
      <textarea
        id={id}
        rows={10}
        maxLength={10_000}
        value={notes.draft}
        aria-describedby={`${id}-hint`}
        onChange={(event) => notes.set(event.currentTarget.value)}
        onBlur={notes.flush}
      />
      <div id={`${id}-hint`} className="hint">
        For the people who read this workflow: what the node is for, what to watch out for.
      </div>
    </div>
  );
}
