// "Run" in the editor's toolbar: ask for the input, start the run, light the canvas up live as
// the journal grows, and show what the run came to.
import { useEffect, useMemo, useState } from "react";
import { post } from "../api/client";
import type { Execution, ExecutionStatus } from "../api/types";
import { useEditor } from "../store/editor";
import { ErrorBox } from "../ui/ErrorBox";
import { isFinished, statusAt } from "./frames";
import { JsonInputDialog } from "./JsonInputDialog";
import { pretty } from "./jsonInput";
import { RunResult } from "./RunResult";
import { useLiveRun } from "./useLiveRun";
import "./runs.css";

export interface RunControlsProps {
  /**
   * Saves the definition being edited; resolves true when it was saved. Given, the dialog
   * offers "Save and run" when there are unsaved changes (else the store's `save`, if any).
   */
  save?: () => Promise<boolean>;
}

interface Started {
  executionId: string;
  /** The workflow it runs: the overlay belongs to that workflow's canvas only. */
  workflowId: string;
  startedAt: string | null;
  /** Said above the result: which version ran. */
  note: string | null;
}

/** The store's own save, if a later version of it has one. */
function storeSave(): (() => Promise<boolean>) | undefined {
  const state = useEditor.getState() as unknown as { save?: () => Promise<unknown> };
  if (typeof state.save !== "function") return undefined;
  const save = state.save;
  return async () => (await save()) !== false;
}

export function RunControls({ save }: RunControlsProps) {
  const workflowId = useEditor((s) => s.workflowId);
  const workflow = useEditor((s) => s.workflow);
  const dirty = useEditor((s) => s.dirty);
  const savedVersion = useEditor((s) => s.savedVersion);
  const [open, setOpen] = useState(false);
  // back in the editor while a run is shown: follow it again, with its result panel
  const [started, setStarted] = useState<Started | null>(() => {
    const { run, workflowId: shownId } = useEditor.getState();
    return run && shownId
      ? { executionId: run.executionId, workflowId: shownId, startedAt: null, note: null }
      : null;
  });

  const live = useLiveRun(started?.executionId ?? null);

  // the canvas shows the run as the journal grows
  useEffect(() => {
    if (!started) return;
    const { workflow: current, workflowId: shownId, setRun } = useEditor.getState();
    if (shownId !== started.workflowId) return;
    const ended = live.execution;
    const shown = statusAt(live.frames, Number.POSITIVE_INFINITY, current ?? { nodes: [], edges: [] }, {
      runError: ended?.error ?? null,
    });
    setRun({
      executionId: started.executionId,
      nodes: shown.nodes,
      edges: shown.edges,
      status: live.status ?? "PENDING",
      result: ended?.result,
      error: ended?.error ?? undefined,
    });
  }, [started, live.frames, live.execution, live.status]);

  // the next run's input starts from this one's
  useEffect(() => {
    if (live.execution) useEditor.getState().setLastRun({ ...live.execution, frames: live.frames });
  }, [live.execution, live.frames]);

  // another workflow loaded: stop following; the overlay cleared elsewhere: drop the result
  const shownRun = useEditor((s) => s.run?.executionId ?? null);
  useEffect(() => {
    if (!started) return;
    if (workflowId !== started.workflowId) setStarted(null);
    else if (shownRun === null && isFinished(live.status)) setStarted(null);
  }, [workflowId, shownRun, started, live.status]);

  const clear = () => {
    setStarted(null);
    useEditor.getState().setRun(null);
  };

  const doSave = save ?? storeSave();
  const name = workflow?.name ?? "workflow";
  const running = !!started && !isFinished(live.status);

  return (
    <>
      <button
        type="button"
        className="run-button"
        aria-label="Run workflow"
        title={dirty ? "Run (the saved version, or save first)" : "Run this workflow"}
        disabled={!workflowId}
        onClick={() => setOpen(true)}
      >
        <span aria-hidden="true">▶</span> {running ? "Running…" : "Run"}
      </button>
      {open && workflowId && (
        <RunDialog
          workflowId={workflowId}
          name={name}
          dirty={dirty}
          savedVersion={savedVersion}
          save={doSave}
          onClose={() => setOpen(false)}
          onStarted={(run, note) => {
            setOpen(false);
            setStarted({ executionId: run.id, workflowId, startedAt: run.startedAt ?? run.createdAt, note });
          }}
        />
      )}
      {started && (
        <div className="run-result-dock">
          <RunResult
            executionId={started.executionId}
            status={(live.status ?? "PENDING") as ExecutionStatus}
            result={live.execution?.result}
            error={live.execution?.error ?? null}
            startedAt={live.execution?.startedAt ?? started.startedAt}
            finishedAt={live.execution?.finishedAt ?? null}
            note={started.note}
            onClear={clear}
          />
          <ErrorBox error={live.error} />
        </div>
      )}
    </>
  );
}

interface RunDialogProps {
  workflowId: string;
  name: string;
  dirty: boolean;
  savedVersion: number;
  save: (() => Promise<boolean>) | undefined;
  onClose: () => void;
  onStarted: (run: Execution, note: string | null) => void;
}

function RunDialog({ workflowId, name, dirty, savedVersion, save, onClose, onStarted }: RunDialogProps) {
  const [initial] = useState(() => pretty(useEditor.getState().lastRun?.input ?? {}));
  const nodes = useEditor((s) => s.workflow?.nodes);
  const nodeTypes = useEditor((s) => s.nodeTypes);
  const triggers = useMemo(
    () => (nodes ?? []).filter((n) => nodeTypes[n.type]?.trigger || n.type === "flow.start"),
    [nodes, nodeTypes],
  );

  const start = (saveFirst: boolean) => async (input: unknown) => {
    let note: string | null = null;
    if (saveFirst && save) {
      if (!(await save())) throw new Error("The workflow was not saved: see the problems on the canvas.");
    } else if (dirty) {
      note = `Ran the saved version ${savedVersion}: your unsaved changes are not in this run.`;
    }
    const run = await post<Execution>("/api/v1/executions", { workflowId, input });
    onStarted(run, note);
  };

  const triggerText = triggers.map((t) => t.id).join(", ");

  return (
    <JsonInputDialog
      title={`Run ${name}`}
      label="Input (JSON)"
      rows={10}
      initial={initial}
      hint={
        <>
          {triggers.length ? `What ${triggerText} gives the run: ` : "The run's input: "}
          <code>trigger</code> in expressions.
        </>
      }
      note={
        dirty && (
          <p className="notice" role="note">
            {save
              ? "You have unsaved changes. Save and run them, or run the saved version."
              : `You have unsaved changes: the run uses the saved version ${savedVersion}, without them.`}
          </p>
        )
      }
      submitLabel="Start run"
      onStart={start(false)}
      alternative={dirty && save ? { label: "Save and run", onStart: start(true) } : undefined}
      onClose={onClose}
    />
  );
}
