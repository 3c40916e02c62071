// The editor's calls to the server: the workflow, the node types, its last run, saving, versions.
import { ApiError, api, get } from "../api/client";
import type {
  Diff,
  Execution,
  NodeType,
  Page,
  Revision,
  RevisionDetail,
  Workflow,
  WorkflowDetail,
} from "../api/types";

const path = (workflowId: string) => `/api/v1/workflows/${encodeURIComponent(workflowId)}`;

export const fetchWorkflow = (workflowId: string) => get<WorkflowDetail>(path(workflowId));

/** How long an answer asked for early (prefetchWorkflow) is taken instead of asking again. */
export const PREFETCH_MS = 2000;

const early = new Map<string, { at: number; answer: Promise<WorkflowDetail> }>();

/**
 * Asks for the workflow now, for loadWorkflow to take shortly. The editor asks while it first
 * renders: React shows a page that was loading on demand a little later than it renders it,
 * and the request need not wait for that.
 */
export function prefetchWorkflow(workflowId: string): void {
  const known = early.get(workflowId);
  if (known && Date.now() - known.at < PREFETCH_MS) return;
  const answer = fetchWorkflow(workflowId);
  answer.catch(() => undefined); // the taker handles the error; untaken, it is no one's
  early.set(workflowId, { at: Date.now(), answer });
}

/** The workflow: the answer prefetchWorkflow asked for just now, else a new request. */
export function loadWorkflow(workflowId: string): Promise<WorkflowDetail> {
  const known = early.get(workflowId);
  early.delete(workflowId);
  return known && Date.now() - known.at < PREFETCH_MS ? known.answer : fetchWorkflow(workflowId);
}

let nodeTypes: Promise<NodeType[]> | null = null;

/** The node types change only with the server's connectors: asked once per page load. */
export function fetchNodeTypes(): Promise<NodeType[]> {
  nodeTypes ??= get<NodeType[]>("/api/v1/node-types").catch((error: unknown) => {
    nodeTypes = null;
    throw error;
  });
  return nodeTypes;
}

/** The workflow's newest run with its frames; null if it has none or the caller may not see runs. */
export async function fetchLastRun(workflowId: string): Promise<Execution | null> {
  try {
    const page = await get<Page<Execution>>("/api/v1/executions", { workflowId, limit: 1 });
    const newest = page.items[0];
    if (!newest) return null;
    return await get<Execution>(`/api/v1/executions/${encodeURIComponent(newest.id)}`);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 403 || error.status === 404)) return null;
    throw error;
  }
}

/**
 * Saves `definition` as the next version. With `basedOn`, the server refuses (409) a save based
 * on a version that is no longer current; without it, the save overwrites.
 */
export function saveWorkflow(
  workflowId: string,
  definition: Workflow,
  basedOn: number | null,
): Promise<WorkflowDetail> {
  return api<WorkflowDetail>("PUT", path(workflowId), {
    body: definition,
    headers: basedOn === null ? {} : { "If-Match": `"${basedOn}"` },
  });
}

export const fetchVersions = (workflowId: string, cursor?: string | null) =>
  get<Page<Revision>>(`${path(workflowId)}/versions`, { limit: 100, cursor });

export const fetchVersion = (workflowId: string, number: number) =>
  get<RevisionDetail>(`${path(workflowId)}/versions/${number}`);

export const fetchDiff = (workflowId: string, from: number, to: number) =>
  get<Diff>(`${path(workflowId)}/diff`, { from, to });
