// A run's or a step's status as a coloured badge (the colours come from styles.css's .badge);
// given `to`, a link (to the run).
import { Link } from "react-router";
import type { ExecutionStatus } from "../api/types";
import type { RunStatus } from "../graph/types";

const WORDS: Record<string, string> = {
  PENDING: "pending",
  RUNNING: "running",
  WAITING: "waiting",
  COMPLETED: "completed",
  FAILED: "failed",
  CANCELLED: "cancelled",
};

interface StatusBadgeProps {
  status: ExecutionStatus | RunStatus | string;
  to?: string;
  title?: string;
}

export function StatusBadge({ status, to, title }: StatusBadgeProps) {
  const className = `badge ${status}`;
  const word = WORDS[status] ?? status;
  return to ? (
    <Link className={className} to={to} title={title}>
      {word}
    </Link>
  ) : (
    <span className={className} title={title}>
      {word}
    </span>
  );
}
