// "Re-run from this node": a new run that keeps every step the node does not lead to, with the
// node's input from this run, editable.
import { useState } from "react";
import { post } from "../api/client";
import type { Execution } from "../api/types";
import { JsonInputDialog } from "./JsonInputDialog";
import { pretty } from "./jsonInput";

export interface RerunDialogProps {
  executionId: string;
  nodeId: string;
  /** The input the node got in this run. */
  recorded: unknown;
  onStarted: (run: Execution) => void;
  onClose: () => void;
}

export function RerunDialog({ executionId, nodeId, recorded, onStarted, onClose }: RerunDialogProps) {
  const [prefilled] = useState(() => pretty(recorded));

  const start = async (input: unknown, text: string) => {
    // Unchanged: keep the recorded input (the server's own copy, not our rendering of it).
    const body = text === prefilled ? { node: nodeId } : { node: nodeId, input };
    const run = await post<Execution>(`/api/v1/executions/${encodeURIComponent(executionId)}/rerun`, body);
    onStarted(run);
  };

  return (
    <JsonInputDialog
      title={`Re-run from ${nodeId}`}
      intro={
        <>
          Steps that <code>{nodeId}</code> does not lead to keep their recorded outputs;{" "}
          <code>{nodeId}</code> and what follows it run again. Leave the input as it is to keep
          the recorded one.
        </>
      }
      label={`Input for ${nodeId}`}
      rows={12}
      initial={prefilled}
      submitLabel="Start re-run"
      onStart={start}
      onClose={onClose}
    />
  );
}
