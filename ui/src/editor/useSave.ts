// Saving the definition being edited as a new version, and what became of the last attempt.
import { useCallback, useRef, useState } from "react";
import { ApiError } from "../api/client";
import { useEditor } from "../store/editor";
import { flushDrafts } from "./inspector/useDraft";
import { saveWorkflow } from "./remote";

export interface Saving {
  saving: boolean;
  /** The last save's failure: a 422 (problems marked on the nodes), a 409 (saved elsewhere) … */
  error: unknown;
  /** "Saved version 4", or that nothing had changed. */
  notice: string | null;
  /** Resolves true when saved. `overwrite` saves even if someone saved a newer version. */
  save: (overwrite?: boolean) => Promise<boolean>;
  dismiss: () => void;
}


export function useSave(): Saving {
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const busy = useRef(false);

  const save = useCallback(async (overwrite = false) => {
    if (busy.current) return false;
    // what was typed in the inspector a moment ago is part of this save
    flushDrafts();
    const { workflowId, workflow, savedVersion } = useEditor.getState();
    if (!workflowId || !workflow) return false;
    busy.current = true;
    setSaving(true);
    setError(null);
    setNotice(null);
    try {
      const detail = await saveWorkflow(workflowId, workflow, overwrite ? null : savedVersion);
      useEditor.getState().markSaved(detail, workflow);
      setNotice(
        detail.version === savedVersion
          ? `Nothing changed: still version ${detail.version}`
          : `Saved version ${detail.version}`,
      );
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) {
        // indices in the details refer to the definition as sent, not as it is now
        useEditor.getState().setProblems(e.details, workflow);
      }
      setError(e);
      return false;
    } finally {
      busy.current = false;
      setSaving(false);
    }
  }, []);

  const dismiss = useCallback(() => {
    setError(null);
    setNotice(null);
  }, []);

  return { saving, error, notice, save, dismiss };
}
