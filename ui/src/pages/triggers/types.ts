// The trigger nodes of a workflow as GET /api/v1/workflows/{id}/triggers lists them
// (src/flowforge/api/triggers.py). A node with invalid parameters has `error` and nulls.

interface TriggerBase {
  nodeId: string;
  active: boolean;
  error?: string | null;
}

export interface WebhookTrigger extends TriggerBase {
  kind: "webhook";
  path: string | null;
  url: string | null;
  methods: string[] | null;
  respond: "immediately" | "when_finished" | null;
  signed: boolean | null;
}

export interface ScheduleTrigger extends TriggerBase {
  kind: "schedule";
  cron: string | null;
  timezone: string | null;
  missed: "skip" | "run_once" | "run_all" | null;
  nextTimes: string[] | null;
}

export interface ErrorTrigger extends TriggerBase {
  kind: "error";
  workflows?: string[] | null;
}

export type Trigger = WebhookTrigger | ScheduleTrigger | ErrorTrigger;

export interface SchedulePreview {
  cron: string;
  timezone: string;
  nextTimes: string[];
}
