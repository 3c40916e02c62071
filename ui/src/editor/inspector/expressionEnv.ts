// What every expression field of the selected node shares: the names in scope and the run the
// preview evaluates against. Set once by the inspector, read by each ExpressionField.
import { createContext, useContext } from "react";
import { api, ApiError } from "../../api/client";
import type { Scope } from "./scope";

export interface ExpressionEnv {
  scope: Scope;
  nodeId: string;
  /** The workflow's last run, or null: then there is nothing to preview against. */
  executionId: string | null;
  /** The for_each item the preview uses (item 0 when the node ran items in the last run). */
  item: number | null;
}

export const ExpressionEnvContext = createContext<ExpressionEnv>({
  scope: {},
  nodeId: "",
  executionId: null,
  item: null,
});

export function useExpressionEnv(): ExpressionEnv {
  return useContext(ExpressionEnvContext);
}

export type PreviewResult =
  | { ok: true; value: unknown }
  | { ok: false; error: string }
  | { ok: false; unavailable: string };

/** POST /api/v1/expressions/preview: the value of `expression` in the node's scope in a run. */
export async function previewExpression(
  expression: string,
  env: Pick<ExpressionEnv, "executionId" | "nodeId" | "item">,
  signal?: AbortSignal,
): Promise<PreviewResult> {
  try {
    return await api<PreviewResult>("POST", "/api/v1/expressions/preview", {
      body: { expression, executionId: env.executionId, nodeId: env.nodeId, item: env.item },
      signal,
    });
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 404 || error.status === 405) {
      return { ok: false, unavailable: `No preview: ${error.message}` };
    }
    const detail = error.details[0];
    if (error.status === 422 && detail?.field === "body.nodeId") {
      // Renamed or added since: the run's version has no node of that id.
      return { ok: false, unavailable: "The last run had no node of this id: run the workflow again to preview." };
    }
    return { ok: false, error: detail ? `${detail.field}: ${detail.message}` : error.message };
  }
}
