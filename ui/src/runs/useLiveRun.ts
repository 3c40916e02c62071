// Follows a run live over its event stream: the journal as it grows, step progress, the outcome.
import { useEffect, useRef, useState } from "react";
import { follow, url, type StreamEvent } from "../api/client";
import type { Execution, ExecutionStatus, Frame } from "../api/types";

/** A step's report of how far it has come (a `progress` event). */
export interface Progress {
  nodeId: string;
  item: number | null;
  done: number;
  total: number | null;
  message: string | null;
}

export interface LiveRun {
  /** Every frame received so far (and the ones given to start from), in seq order. */
  frames: Frame[];
  /** The latest progress per node and for_each item, keyed "node" or "node[item]". */
  progress: Record<string, Progress>;
  /** The run as it ended (the `end` event); undefined while it goes on. */
  execution: Execution | undefined;
  /** RUNNING while followed, the run's own status once it ended. */
  status: ExecutionStatus | undefined;
  following: boolean;
  /** Why following stopped early (a 403 or 404 from the stream). */
  error: unknown;
}

const idle: LiveRun = {
  frames: [],
  progress: {},
  execution: undefined,
  status: undefined,
  following: false,
  error: null,
};

export function progressKey(nodeId: string, item: number | null | undefined): string {
  return item == null ? nodeId : `${nodeId}[${item}]`;
}

/** Adds frames to a journal, once each, in seq order. */
export function mergeFrames(known: readonly Frame[], added: readonly Frame[]): Frame[] {
  if (added.length === 0) return known as Frame[];
  const bySeq = new Map(known.map((f) => [f.seq, f]));
  for (const frame of added) bySeq.set(frame.seq, frame);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/**
 * Follows GET /api/v1/executions/{id}/stream while `executionId` is set and the component is
 * mounted. `initial` (the frames a page already loaded) is kept and the stream starts after
 * its last seq, so nothing is fetched twice. Stops at the `end` event, on unmount or when the
 * id changes.
 */
export function useLiveRun(
  executionId: string | null | undefined,
  initial: readonly Frame[] = [],
  enabled = true,
): LiveRun {
  const [run, setRun] = useState<LiveRun>(idle);
  // read when following starts: a new array from the caller must not restart the stream
  const startFrom = useRef(initial);
  useEffect(() => {
    startFrom.current = initial;
  });

  useEffect(() => {
    if (!executionId || !enabled) {
      setRun(idle);
      return;
    }
    const known = [...startFrom.current].sort((a, b) => a.seq - b.seq);
    const after = known.at(-1)?.seq ?? 0;
    setRun({ ...idle, frames: known, status: "RUNNING", following: true });
    const controller = new AbortController();
    // Frames can come by the hundred (a re-run's copied journal): apply them in batches.
    let pending: Frame[] = [];
    let progress: Progress[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    const flush = () => {
      timer = null;
      const frames = pending;
      const updates = progress;
      pending = [];
      progress = [];
      setRun((state) => {
        const next = { ...state, frames: mergeFrames(state.frames, frames) };
        if (updates.length) {
          next.progress = { ...state.progress };
          for (const u of updates) next.progress[progressKey(u.nodeId, u.item)] = u;
        }
        return next;
      });
    };
    const schedule = () => {
      timer ??= setTimeout(flush, 30);
    };
    const onEvent = (event: StreamEvent) => {
      if (event.event === "frame") {
        pending.push(event.data as Frame);
        schedule();
      } else if (event.event === "progress") {
        progress.push(event.data as Progress);
        schedule();
      } else if (event.event === "end") {
        if (timer) clearTimeout(timer);
        flush();
        const execution = event.data as Execution;
        setRun((state) => ({ ...state, execution, status: execution.status, following: false }));
      }
    };
    follow(
      url(`/api/v1/executions/${encodeURIComponent(executionId)}/stream`, { after }),
      onEvent,
      controller.signal,
    ).then(
      () => undefined,
      (error: unknown) => {
        if (controller.signal.aborted) return;
        setRun((state) => ({ ...state, following: false, error }));
      },
    );
    return () => {
      controller.abort();
      if (timer) clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [executionId, enabled]);

  return run;
}
