// The editor's toolbar: the workflow's name, save and its outcome, editing commands, versions,
// the run controls and the way to the workflow's settings.
import { Link } from "react-router";
import { RunControls } from "../runs/RunControls";
import { useEditor } from "../store/editor";
import "./editor.css";

export interface ToolbarProps {
  workflowId: string;
  saving: boolean;
  notice: string | null;
  onSave: () => Promise<boolean>;
  onAutoLayout: () => void;
  onPaste: () => void;
  onVersions: () => void;
}

const mac = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform);
const MOD = mac ? "⌘" : "Ctrl+";

export function Toolbar({ workflowId, saving, notice, onSave, onAutoLayout, onPaste, onVersions }: ToolbarProps) {
  const name = useEditor((s) => s.workflow?.name ?? "");
  const version = useEditor((s) => s.savedVersion);
  const dirty = useEditor((s) => s.dirty);
  const canUndo = useEditor((s) => s.past.length > 0);
  const canRedo = useEditor((s) => s.future.length > 0);
  const hasSelection = useEditor((s) => s.selected.length > 0 || s.selectedEdges.length > 0);
  const hasNodesSelected = useEditor((s) => s.selected.length > 0);
  const store = useEditor.getState;

  return (
    <div className="editor-toolbar" role="toolbar" aria-label="Workflow editor">
      <input
        className="editor-name"
        aria-label="Workflow name"
        placeholder="Workflow name"
        value={name}
        maxLength={200}
        onChange={(e) => store().updateWorkflow({ name: e.target.value })}
      />
      <span className="editor-version">Version {version}</span>
      {dirty ? (
        <span className="editor-dirty">Unsaved changes</span>
      ) : (
        <span className="editor-saved" role="status">
          {notice}
        </span>
      )}
      <button type="button" onClick={() => void onSave()} disabled={saving} title={`Save (${MOD}S)`}>
        {saving ? "Saving…" : "Save"}
      </button>
      <span className="sep" />
      <button type="button" className="ghost" onClick={() => store().undo()} disabled={!canUndo} title={`Undo (${MOD}Z)`}>
        Undo
      </button>
      <button
        type="button"
        className="ghost"
        onClick={() => store().redo()}
        disabled={!canRedo}
        title={`Redo (${MOD}Shift+Z)`}
      >
        Redo
      </button>
      <button type="button" className="ghost" onClick={onAutoLayout} title="Auto-layout (L)">
        Auto-layout
      </button>
      <button
        type="button"
        className="ghost"
        onClick={() => store().copy()}
        disabled={!hasNodesSelected}
        title={`Copy the selected nodes (${MOD}C)`}
      >
        Copy
      </button>
      <button type="button" className="ghost" onClick={onPaste} title={`Paste (${MOD}V)`}>
        Paste
      </button>
      <button
        type="button"
        className="ghost"
        onClick={() => store().removeSelected()}
        disabled={!hasSelection}
        title="Delete the selection (Delete)"
      >
        Delete
      </button>
      <span className="sep" />
      <button type="button" className="ghost" onClick={onVersions}>
        Versions
      </button>
      <span className="spacer" />
      <RunControls save={onSave} />
      <Link className="button ghost" to={`/workflows/${encodeURIComponent(workflowId)}/settings`}>
        Settings
      </Link>
    </div>
  );
}
