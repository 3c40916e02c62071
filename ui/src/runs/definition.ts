// The workflow version a run ran, and the node types to draw it with.
import { get } from "../api/client";
import type { Execution, Frame, NodeType, Page, Revision, RevisionDetail, Workflow, WorkflowNode } from "../api/types";

export interface RanDefinition {
  workflow: Workflow;
  /** The version number in the catalogue; null when it could not be found there. */
  version: number | null;
  /** Why the graph is drawn from the journal alone, when it is. */
  note: string | null;
}

/**
 * The definition of the version the run ran: the catalogue's revision whose versionId matches.
 * A run of a definition sent inline, or of a deleted workflow, has none to show: then the
 * nodes of its journal are drawn without edges.
 */
export async function loadDefinition(run: Execution, frames: readonly Frame[]): Promise<RanDefinition> {
  if (run.workflowId) {
    try {
      let cursor: string | undefined;
      for (let page = 0; page < 20; page++) {
        const revisions = await get<Page<Revision>>(
          `/api/v1/workflows/${encodeURIComponent(run.workflowId)}/versions`,
          { limit: 200, cursor },
        );
        const found = revisions.items.find((r) => r.versionId === run.versionId);
        if (found) {
          const detail = await get<RevisionDetail>(
            `/api/v1/workflows/${encodeURIComponent(run.workflowId)}/versions/${found.number}`,
          );
          return { workflow: detail.definition, version: found.number, note: null };
        }
        if (!revisions.nextCursor) break;
        cursor = revisions.nextCursor;
      }
    } catch {
      // the workflow was deleted, or may not be read: fall back to the journal
    }
  }
  return {
    workflow: fromJournal(run.workflowName, frames),
    version: null,
    note: run.workflowId
      ? "The version this run ran is no longer in the catalogue: its steps are shown without edges."
      : "This run's definition was sent inline and is not stored: its steps are shown without edges.",
  };
}

/** A stand-in definition with one node per node id of the journal, in the order they ran. */
export function fromJournal(name: string, frames: readonly Frame[]): Workflow {
  const ids: string[] = [];
  for (const frame of [...frames].sort((a, b) => a.seq - b.seq)) {
    if (!ids.includes(frame.nodeId)) ids.push(frame.nodeId);
  }
  const nodes = ids.map(
    (id, i): WorkflowNode => ({
      id,
      type: "unknown",
      on_error: "fail",
      trigger_rule: "all",
      concurrency: 1,
      position: [40 + (i % 4) * 260, 40 + Math.floor(i / 4) * 130],
    }),
  );
  return { name, tags: [], nodes, edges: [] };
}

let nodeTypes: Promise<Record<string, NodeType>> | null = null;

/** Every node type by its type name, fetched once per page load. */
export function loadNodeTypes(): Promise<Record<string, NodeType>> {
  nodeTypes ??= get<NodeType[]>("/api/v1/node-types").then(
    (list) => Object.fromEntries(list.map((t) => [t.type, t])),
    (error: unknown) => {
      nodeTypes = null;
      throw error;
    },
  );
  return nodeTypes;
}
