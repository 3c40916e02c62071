// A field's value as the user types it, committed to the editor store after a pause or when the
// field loses focus: each call of updateNode is one undo step, so one edit should be one call.
import { useCallback, useEffect, useRef, useState } from "react";

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false;
  }
}

/** The flush of every draft on screen: Ctrl+S saves what was typed a moment ago too. */
const mounted = new Set<() => void>();

export function flushDrafts(): void {
  for (const flush of mounted) flush();
}

export interface Draft<T> {
  draft: T;
  /** Changes the draft now and commits it after `delay` ms without another change. */
  set: (value: T) => void;
  /** Commits a pending change at once (on blur, before leaving). */
  flush: () => void;
}

export function useDraft<T>(value: T, commit: (value: T) => void, delay = 700): Draft<T> {
  const [draft, setDraft] = useState<T>(value);
  const pending = useRef<{ value: T } | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const commitRef = useRef(commit);
  commitRef.current = commit;

  const flush = useCallback(() => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
    const next = pending.current;
    pending.current = null;
    if (next) commitRef.current(next.value);
  }, []);

  const set = useCallback(
    (next: T) => {
      setDraft(next);
      pending.current = { value: next };
      if (timer.current) clearTimeout(timer.current);
      timer.current = setTimeout(flush, delay);
    },
    [delay, flush],
  );

  // The store changed under us (undo, redo, another panel): show that, unless typing is pending.
  useEffect(() => {
    if (pending.current) return;
    setDraft((current) => (same(current, value) ? current : value));
  }, [value]);

  // Leaving (another node selected, panel closed) keeps what was typed.
  useEffect(() => {
    mounted.add(flush);
    return () => {
      mounted.delete(flush);
      flush();
    };
  }, [flush]);

  return { draft, set, flush };
}
