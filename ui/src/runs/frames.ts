// The state of a run's graph at any moment of its journal: a fold over the frames, so the live
// view, the execution view and the time-travel scrubber all read the one truth the server keeps.
import type { Execution, ExecutionStatus, Frame, FrameStatus, WorkflowEdge, WorkflowNode } from "../api/types";
import { edgeId } from "../graph/convert";
import type { RunStatus } from "../graph/types";

/** What the fold needs of a workflow: which edges leave which port, and the error policies. */
export interface RunGraph {
  nodes: ReadonlyArray<
    Pick<WorkflowNode, "id"> & Partial<Pick<WorkflowNode, "on_error" | "for_each">>
  >;
  edges: ReadonlyArray<RunEdge>;
}

export type RunEdge = Pick<WorkflowEdge, "source" | "target"> &
  Partial<Pick<WorkflowEdge, "source_port" | "target_port">>;

/** Names an edge in the result; by default as the canvas does (convert.ts's `edgeId`). */
export type EdgeKey = (edge: RunEdge, index: number) => string;

export const MAIN_PORT = "main";
export const ERROR_PORT = "error";

export function defaultEdgeKey(edge: RunEdge): string {
  return edgeId(edge);
}

export interface GraphStatus {
  nodes: Record<string, RunStatus>;
  edges: Record<string, RunStatus>;
  /** The last frame folded in (the one at `upTo`). */
  current: Frame | undefined;
}

export interface StatusOptions {
  edgeKey?: EdgeKey;
  /**
   * The run's error, when it has ended: a node can fail without a frame (a for_each expression
   * that does not give a list), and only the run's error names it.
   */
  runError?: { node?: unknown } | null;
}

/** Frames in journal order (the stream may deliver them out of order after a reconnect). */
export function inOrder(frames: readonly Frame[]): Frame[] {
  return [...frames].sort((a, b) => a.seq - b.seq);
}

/** The highest seq of the journal: the scrubber's end. */
export function lastSeq(frames: readonly Frame[]): number {
  let last = 0;
  for (const frame of frames) last = Math.max(last, frame.seq);
  return last;
}

interface Outcome {
  status: RunStatus;
  /** The port the node's output went out of, once it has one. */
  port: string | null;
}

/** One egress or ingress, as it stands for a node (or one for_each item). */
function outcomeOf(frame: Frame, onError: WorkflowNode["on_error"] | undefined): Outcome {
  switch (frame.status as FrameStatus) {
    case "started":
      return { status: "running", port: null };
    case "completed":
      return { status: "completed", port: frame.port ?? MAIN_PORT };
    case "retrying":
      return { status: "retrying", port: null };
    case "failed":
      // with on_error continue or route the run goes on: the error object is the output
      return {
        status: "failed",
        port: onError === "continue" ? MAIN_PORT : onError === "route" ? ERROR_PORT : null,
      };
    case "skipped":
      return { status: "skipped", port: null };
    case "waiting":
      return { status: "waiting", port: null };
    case "cancelled":
      return { status: "cancelled", port: null };
    case "interrupted":
      // the process driving it died; whoever resumes the run starts the attempt again
      return { status: "running", port: null };
    default:
      return { status: "running", port: null };
  }
}

/**
 * A for_each node from its items: failed if any item failed (the node fails with it), running
 * while any item runs, and completed once every item has. `total` is the number of items the
 * whole journal knows of: the frames up to a moment cannot tell that more items are to come.
 */
function aggregate(items: Map<number, Outcome>, total: number): Outcome {
  const all = [...items.values()];
  const failed = all.find((o) => o.status === "failed");
  if (failed) return failed;
  const has = (status: RunStatus) => all.some((o) => o.status === status);
  if (has("running")) return { status: "running", port: null };
  if (has("retrying")) return { status: "retrying", port: null };
  if (has("waiting")) return { status: "waiting", port: null };
  if (has("cancelled")) return { status: "cancelled", port: null };
  const done = all.filter((o) => o.status === "completed").length;
  if (done >= total) return { status: "completed", port: MAIN_PORT };
  // between two items: the next one has not started yet
  return { status: "running", port: null };
}

function itemTotals(frames: readonly Frame[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const frame of frames) {
    if (frame.item == null) continue;
    totals.set(frame.nodeId, Math.max(totals.get(frame.nodeId) ?? 0, frame.item + 1));
  }
  return totals;
}

/**
 * The graph as it was after the frame with seq `upTo` (0: before the run started; past the
 * end: as it is now). Node statuses come from each node's last frame (for_each items folded
 * into their node); an edge is "completed" once its source delivered the edge's port, "running"
 * (animated) while its target then runs, and "skipped" when it is dead.
 */
export function statusAt(
  frames: readonly Frame[],
  upTo: number,
  graph: RunGraph,
  options: StatusOptions = {},
): GraphStatus {
  const edgeKey = options.edgeKey ?? defaultEdgeKey;
  const policy = new Map(graph.nodes.map((n) => [n.id, n]));
  const totals = itemTotals(frames);
  const single = new Map<string, Outcome>();
  const items = new Map<string, Map<number, Outcome>>();
  let current: Frame | undefined;
  for (const frame of inOrder(frames)) {
    if (frame.seq > upTo) break;
    current = frame;
    const outcome = outcomeOf(frame, policy.get(frame.nodeId)?.on_error);
    if (frame.item == null) {
      single.set(frame.nodeId, outcome);
    } else {
      let byItem = items.get(frame.nodeId);
      if (!byItem) items.set(frame.nodeId, (byItem = new Map()));
      byItem.set(frame.item, outcome);
    }
  }

  const outcomes = new Map(single);
  for (const [nodeId, byItem] of items) {
    outcomes.set(nodeId, aggregate(byItem, totals.get(nodeId) ?? byItem.size));
  }

  // A for_each over an empty list completes without a frame: its successors starting tell.
  const started = new Set(outcomes.keys());
  for (const edge of graph.edges) {
    const source = policy.get(edge.source);
    if (source?.for_each && !outcomes.has(edge.source) && started.has(edge.target)) {
      outcomes.set(edge.source, { status: "completed", port: MAIN_PORT });
    }
  }

  const atEnd = upTo >= lastSeq(frames);
  const failedNode = options.runError?.node;
  if (atEnd && typeof failedNode === "string" && outcomes.get(failedNode)?.status !== "failed") {
    const known = policy.has(failedNode) || outcomes.has(failedNode);
    if (known && !isSettled(outcomes.get(failedNode)?.status)) {
      outcomes.set(failedNode, { status: "failed", port: null });
    }
  }

  const nodes: Record<string, RunStatus> = {};
  for (const [nodeId, outcome] of outcomes) nodes[nodeId] = outcome.status;

  const edges: Record<string, RunStatus> = {};
  graph.edges.forEach((edge, index) => {
    const source = outcomes.get(edge.source);
    if (!source) return;
    const key = edgeKey(edge, index);
    if (source.status === "skipped") {
      edges[key] = "skipped";
    } else if (source.port !== null) {
      if ((edge.source_port ?? MAIN_PORT) !== source.port) {
        edges[key] = "skipped";
      } else {
        const target = outcomes.get(edge.target)?.status;
        edges[key] = target === "running" || target === "retrying" ? "running" : "completed";
      }
    }
  });
  return { nodes, edges, current };
}

function isSettled(status: RunStatus | undefined): boolean {
  return status === "completed" || status === "skipped";
}

/** One attempt of a node (or of one for_each item), from its ingress and egress frames. */
export interface Attempt {
  attempt: number;
  item: number | null;
  /** The status of the attempt's last frame ("started" while it runs). */
  status: FrameStatus;
  input: unknown;
  output: unknown;
  error: Record<string, unknown> | null;
  port: string | null;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  wakeAt: string | null;
  /** The seq of its first and last frame. */
  firstSeq: number;
  lastSeq: number;
}

/**
 * A node's attempts up to the frame `upTo`, in the order they started: what it was given, what
 * it gave or how it failed, through which port, and when. A started frame carries the input,
 * the egress the output or error and the timings, so the two are joined by (item, attempt).
 */
export function nodeDetail(frames: readonly Frame[], nodeId: string, upTo: number): Attempt[] {
  const attempts = new Map<string, Attempt>();
  for (const frame of inOrder(frames)) {
    if (frame.seq > upTo) break;
    if (frame.nodeId !== nodeId) continue;
    const key = `${frame.item ?? ""}:${frame.attempt}`;
    let entry = attempts.get(key);
    if (!entry) {
      entry = {
        attempt: frame.attempt,
        item: frame.item,
        status: frame.status as FrameStatus,
        input: frame.input ?? null,
        output: null,
        error: null,
        port: null,
        startedAt: frame.startedAt ?? null,
        endedAt: null,
        durationMs: null,
        wakeAt: null,
        firstSeq: frame.seq,
        lastSeq: frame.seq,
      };
      attempts.set(key, entry);
    }
    entry.status = frame.status as FrameStatus;
    entry.lastSeq = frame.seq;
    if (frame.status === "started") {
      entry.input = frame.input ?? null;
      entry.startedAt = frame.startedAt;
      continue;
    }
    if (frame.input !== null && frame.input !== undefined) entry.input = frame.input;
    if (frame.output !== null && frame.output !== undefined) entry.output = frame.output;
    if (frame.error) entry.error = frame.error;
    if (frame.port) entry.port = frame.port;
    if (frame.wakeAt) entry.wakeAt = frame.wakeAt;
    entry.startedAt ??= frame.startedAt;
    if (frame.endedAt) entry.endedAt = frame.endedAt;
    if (frame.durationMs != null) entry.durationMs = frame.durationMs;
  }
  return [...attempts.values()];
}

/** The input a node last ran with (for "Re-run from this node"): its latest started attempt. */
export function lastInput(frames: readonly Frame[], nodeId: string): unknown {
  const ran = nodeDetail(frames, nodeId, Number.POSITIVE_INFINITY).filter(
    (a) => a.status !== "skipped",
  );
  return ran.at(-1)?.input ?? null;
}

/** How a run as a whole shows as a node status (for the editor's live overlay). */
export function runStatusOf(status: ExecutionStatus): RunStatus {
  switch (status) {
    case "COMPLETED":
      return "completed";
    case "FAILED":
      return "failed";
    case "CANCELLED":
      return "cancelled";
    case "WAITING":
      return "waiting";
    default:
      return "running";
  }
}

export const FINISHED: ReadonlySet<ExecutionStatus> = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

export function isFinished(status: ExecutionStatus | undefined): boolean {
  return status !== undefined && FINISHED.has(status);
}

/** How long something took, for people: "840 ms", "3.2 s", "4 min 5 s", "2 h 3 min". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${m - h * 60} min`;
}

/** A run's moment in the user's locale and time zone, to the second; "—" when there is none. */
export function formatMoment(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** Milliseconds between two ISO times (or until now when the end is missing). */
export function between(start: string | null | undefined, end: string | null | undefined): number | null {
  if (!start) return null;
  const from = Date.parse(start);
  const to = end ? Date.parse(end) : Date.now();
  if (Number.isNaN(from) || Number.isNaN(to)) return null;
  return Math.max(0, to - from);
}

/** The scrubber's caption for a frame: "check completed (port false)", "lines[2] started". */
export function describeFrame(frame: Frame): string {
  const node = frame.item == null ? frame.nodeId : `${frame.nodeId}[${frame.item}]`;
  const attempt = frame.attempt > 1 ? ` (attempt ${frame.attempt})` : "";
  const port = frame.status === "completed" && frame.port && frame.port !== MAIN_PORT ? ` → ${frame.port}` : "";
  return `${node} ${frame.status}${port}${attempt}`;
}

/** When a frame happened: its egress time, or its start for an ingress. */
export function frameTime(frame: Frame): string {
  return frame.endedAt ?? frame.startedAt;
}

/** What started a run, in words: a retry or re-run, a parent run, a trigger node, or a person. */
export function triggerOf(run: Pick<Execution, "retryOf" | "parentId" | "triggerNode">): string {
  if (run.retryOf) return "retry / re-run";
  if (run.parentId) return "sub-workflow";
  return run.triggerNode ?? "manual";
}
