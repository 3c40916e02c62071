// A workflow's newest run: its status, linking to the run; or "never run".
import { StatusBadge } from "../../runs/StatusBadge";
import { formatWhen } from "../common/format";
import type { LastRun } from "./types";

export function LastRunBadge({ run }: { run: LastRun | null | undefined }) {
  if (!run) return <span className="muted">never run</span>;
  return (
    <StatusBadge
      status={run.status}
      to={`/executions/${encodeURIComponent(run.id)}`}
      title={`Started ${formatWhen(run.createdAt)}${run.finishedAt ? `, finished ${formatWhen(run.finishedAt)}` : ""}`}
    />
  );
}
