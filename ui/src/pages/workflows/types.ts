// A workflow as the list shows it: with its newest run, which the server adds to each item.
import type { ExecutionStatus, WorkflowOut } from "../../api/types";

export interface LastRun {
  id: string;
  status: ExecutionStatus;
  createdAt: string;
  finishedAt: string | null;
}

export type WorkflowItem = Omit<WorkflowOut, "lastRun"> & { lastRun?: LastRun | null };
