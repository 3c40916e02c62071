// The workflow editor (/workflows/:workflowId): palette, canvas and inspector under a toolbar.
import { useCallback, useEffect, useState } from "react";
import { useParams } from "react-router";
import { ReactFlowProvider, useReactFlow } from "@xyflow/react";
import { ApiError } from "../api/client";
import { parseClipboard, useEditor, type Size } from "../store/editor";
import { ErrorBox } from "../ui/ErrorBox";
import { Canvas } from "./Canvas";
import { NodeInspector } from "./inspector/NodeInspector";
import { Palette } from "./Palette";
import { fetchLastRun, fetchNodeTypes, loadWorkflow, prefetchWorkflow } from "./remote";
import { Toolbar } from "./Toolbar";
import { useSave } from "./useSave";
import { useShortcuts } from "./useShortcuts";
import { Versions } from "./Versions";
import "./editor.css";

// The node types are asked for as soon as the editor's code arrives (once per page load).
fetchNodeTypes().catch(() => undefined);

export default function EditorPage() {
  const { workflowId = "" } = useParams();
  return (
    <ReactFlowProvider>
      <Editor key={workflowId} routeId={workflowId} />
    </ReactFlowProvider>
  );
}

/** Loads the workflow, its node types and last run into the store; answers the load's error. */
function useWorkflowLoad(routeId: string) {
  const [error, setError] = useState<unknown>(null);
  const [ready, setReady] = useState(false);
  const [round, setRound] = useState(0);
  // Asked for while rendering, not after: the first render of a page loaded on demand is
  // shown some 200-300 ms later (React holds it back), and the effect below runs only then.
  useState(() => prefetchWorkflow(routeId));
  useEffect(() => {
    let live = true;
    setError(null);
    Promise.all([loadWorkflow(routeId), fetchNodeTypes()]).then(
      ([detail, types]) => {
        if (!live) return;
        const store = useEditor.getState();
        store.setNodeTypes(types);
        // back from the workflow's settings with unsaved changes: keep them
        if (!(store.workflowId === detail.id && store.dirty)) store.load(detail);
        setReady(true);
        fetchLastRun(detail.id).then(
          (run) => live && useEditor.getState().setLastRun(run),
          () => undefined, // the editor works without it
        );
      },
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [routeId, round]);
  return { error, ready, retry: () => setRound((r) => r + 1) };
}

function SaveProblems({ error, onOverwrite, onReload }: { error: unknown; onOverwrite: () => void; onReload: () => void }) {
  const general = useEditor((s) => s.problems[""]);
  const onNodes = useEditor((s) => Object.keys(s.problems).filter((k) => k !== "").length);
  if (!error) return null;
  if (error instanceof ApiError && error.status === 422) {
    return (
      <div className="error-box" role="alert">
        Not saved: {error.message}.
        {onNodes > 0 && ` ${onNodes} node${onNodes > 1 ? "s have" : " has"} problems, marked in red on the canvas.`}
        {general && general.length > 0 && (
          <ul aria-label="Workflow problems">
            {general.map((p, i) => (
              <li key={i}>{p}</li>
            ))}
          </ul>
        )}
      </div>
    );
  }
  if (error instanceof ApiError && error.status === 409) {
    return (
      <div className="error-box" role="alert">
        Not saved: {error.message}
        <div className="toolbar" style={{ margin: "6px 0 0" }}>
          <button type="button" className="danger" onClick={onOverwrite}>
            Save mine over it
          </button>
          <button type="button" className="ghost" onClick={onReload}>
            Reload and discard my changes
          </button>
        </div>
      </div>
    );
  }
  return <ErrorBox error={error} />;
}

function Editor({ routeId }: { routeId: string }) {
  const { error: loadError, ready, retry } = useWorkflowLoad(routeId);
  const workflowId = useEditor((s) => s.workflowId);
  const nodeTypes = useEditor((s) => s.nodeTypes);
  const selected = useEditor((s) => s.selected);
  const dirty = useEditor((s) => s.dirty);
  const savedVersion = useEditor((s) => s.savedVersion);
  const inspected = useEditor((s) =>
    s.selected.length === 1 && s.workflow?.nodes.some((n) => n.id === s.selected[0]) ? s.selected[0] : undefined,
  );
  const { saving, error: saveError, notice, save, dismiss } = useSave();
  const [versionsOpen, setVersionsOpen] = useState(false);
  const [layoutError, setLayoutError] = useState<unknown>(null);
  const [restored, setRestored] = useState<string | null>(null);
  const { getNodes, fitView, screenToFlowPosition } = useReactFlow();

  // "Save and run" in the run controls saves through the store
  useEffect(() => {
    useEditor.setState({ save: () => save() });
    return () => useEditor.setState({ save: null });
  }, [save]);

  const autoLayout = useCallback(async () => {
    setLayoutError(null);
    const sizes: Record<string, Size> = {};
    for (const n of getNodes()) {
      if (n.measured?.width && n.measured.height) sizes[n.id] = { width: n.measured.width, height: n.measured.height };
    }
    try {
      await useEditor.getState().autoLayout(sizes);
      // after React Flow has the new positions
      setTimeout(() => void fitView({ padding: 0.2, maxZoom: 1.2, duration: 300 }), 50);
    } catch (e) {
      setLayoutError(e);
    }
  }, [getNodes, fitView]);

  const paste = useCallback(async () => {
    const store = useEditor.getState();
    let clip = null;
    // another tab's copy arrives through the system clipboard (if the browser lets us read it)
    if (navigator.clipboard?.readText) {
      const text = await navigator.clipboard.readText().catch(() => "");
      if (text && text !== store.copiedText) clip = parseClipboard(text);
    }
    store.paste(clip);
  }, []);

  const add = useCallback(
    (type: string) => {
      const box = document.querySelector(".editor .react-flow")?.getBoundingClientRect();
      const count = useEditor.getState().workflow?.nodes.length ?? 0;
      // the middle of what is on screen, a little apart from the last one added there
      const at = box
        ? screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 })
        : { x: 40, y: 40 };
      const shift = (count % 5) * 24;
      useEditor.getState().addNode(type, { x: at.x - 90 + shift, y: at.y - 30 + shift });
    },
    [screenToFlowPosition],
  );

  const saveNow = useCallback(() => void save(), [save]);
  useShortcuts({ save: saveNow, autoLayout: () => void autoLayout() });

  useEffect(() => {
    if (!dirty) return;
    const warn = (event: BeforeUnloadEvent) => {
      event.preventDefault();
      // older browsers show the prompt only when returnValue is set
      event.returnValue = "";
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty]);

  if (loadError) {
    return (
      <div className="page-padded">
        <ErrorBox error={loadError} />
        <button type="button" onClick={retry}>
          Try again
        </button>
      </div>
    );
  }
  if (!ready || !workflowId) {
    return (
      <div className="loading" role="status">
        Loading workflow…
      </div>
    );
  }

  return (
    <div className="editor">
      <Toolbar
        workflowId={workflowId}
        saving={saving}
        notice={restored ?? notice}
        onSave={() => {
          setRestored(null);
          return save();
        }}
        onAutoLayout={() => void autoLayout()}
        onPaste={() => void paste()}
        onVersions={() => setVersionsOpen(true)}
      />
      <div className="editor-messages">
        <SaveProblems
          error={saveError}
          onOverwrite={() => void save(true)}
          onReload={() => {
            useEditor.setState({ dirty: false });
            dismiss();
            retry();
          }}
        />
        <ErrorBox error={layoutError} />
      </div>
      <div className="editor-body">
        <Palette nodeTypes={nodeTypes} onAdd={add} />
        <Canvas />
        {inspected && (
          // the inspector names its own region ("Node inspector")
          <div className="editor-inspector">
            <NodeInspector nodeId={inspected} />
          </div>
        )}
        {selected.length > 1 && <span className="visually-hidden" role="status">{`${selected.length} nodes selected`}</span>}
      </div>
      {versionsOpen && (
        <Versions
          workflowId={workflowId}
          currentVersion={savedVersion}
          nodeTypes={nodeTypes}
          dirty={dirty}
          onClose={() => setVersionsOpen(false)}
          onRestored={(detail, number) => {
            useEditor.getState().load(detail);
            dismiss();
            setRestored(`Restored version ${number} as version ${detail.version}`);
            setTimeout(() => void fitView({ padding: 0.2, maxZoom: 1.2 }), 50);
          }}
        />
      )}
    </div>
  );
}
