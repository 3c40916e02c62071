// /workflows/:workflowId/settings: what starts the workflow (webhooks, schedules, failures of
// others) and who else may see, run or edit it.
import { Link, useParams } from "react-router";
import { get, post } from "../api/client";
import type { WorkflowDetail } from "../api/types";
import { useSession } from "../store/session";
import { ErrorBox } from "../ui/ErrorBox";
import { LoadingStatus } from "../ui/ListTable";
import { useAction } from "../ui/useAction";
import { useLoad } from "../ui/useLoad";
import { whyNot } from "./common/permissions";
import { SharesPanel } from "./shares/SharesPanel";
import { CronPreview } from "./triggers/CronPreview";
import { ScheduleCard } from "./triggers/ScheduleCard";
import type { ErrorTrigger, Trigger } from "./triggers/types";
import { WebhookCard } from "./triggers/WebhookCard";
import "./pages.css";

function ErrorTriggerCard({ trigger }: { trigger: ErrorTrigger }) {
  const watched = trigger.workflows ?? [];
  return (
    <section className="panel trigger-card" aria-label={`Error trigger ${trigger.nodeId}`}>
      <header className="trigger-head">
        <span className="badge">error</span>
        <strong>Runs when a run of another workflow fails</strong>
        <span className="muted small">node {trigger.nodeId}</span>
      </header>
      <p>
        Watches:{" "}
        {watched.length ? watched.map((w) => <code key={w}>{w} </code>) : "every other workflow"}
      </p>
    </section>
  );
}

function InvalidTrigger({ trigger, editor }: { trigger: Trigger; editor: string }) {
  return (
    <section className="panel trigger-card" aria-label={`${trigger.kind} ${trigger.nodeId}`}>
      <header className="trigger-head">
        <span className="badge FAILED">{trigger.kind}</span>
        <strong>node {trigger.nodeId}</strong>
      </header>
      <div className="error-box" role="alert">
        Its parameters are not valid: {trigger.error}
      </div>
      <Link to={editor}>Fix it in the editor</Link>
    </section>
  );
}

export function WorkflowSettings() {
  const { workflowId = "" } = useParams();
  const me = useSession((s) => s.me);
  const base = `/api/v1/workflows/${encodeURIComponent(workflowId)}`;
  const workflow = useLoad(() => get<WorkflowDetail>(base), [base]);
  const triggers = useLoad(() => get<Trigger[]>(`${base}/triggers`), [base]);
  const activation = useAction();

  const wf = workflow.data;
  const own = !wf || !me || wf.orgId === me.orgId;
  const cannotWrite = own ? whyNot(me, "workflows:write") : null;
  const cannotShare = own ? whyNot(me, "workflows:share") : "Only its own organisation shares a workflow further";
  const editor = `/workflows/${encodeURIComponent(workflowId)}`;

  const activate = () =>
    activation.run(async () => {
      await post(`${base}/activate`);
      workflow.reload();
      triggers.reload();
    });

  const list = triggers.data ?? [];
  return (
    <div className="page-padded workflow-settings">
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to="/workflows">Workflows</Link> ›{" "}
        <Link to={editor}>{wf?.name ?? workflowId}</Link> › Settings
      </nav>
      <div className="toolbar">
        <h1 className="page-title">{wf?.name ?? workflowId}</h1>
        {wf && (
          <span className={`badge ${wf.active ? "COMPLETED" : ""}`}>
            {wf.active ? "active" : "inactive"}
          </span>
        )}
        {wf && <span className="muted">version {wf.version}</span>}
        <span className="spacer" />
        <Link className="button ghost" to={editor}>
          Open in the editor
        </Link>
      </div>
      <ErrorBox error={workflow.error} />

      <section className="settings-section" aria-labelledby="triggers-title">
        <h2 id="triggers-title">Triggers</h2>
        <ErrorBox error={activation.error} />
        <ErrorBox error={triggers.error} />
        {triggers.loading && !triggers.data && <LoadingStatus />}
        {triggers.data && list.length === 0 && (
          <p className="muted">
            No webhook, schedule or error trigger: this workflow runs when started by hand, by
            another workflow, or through the API (<code>POST /api/v1/executions</code>).
          </p>
        )}
        <div className="trigger-list">
          {list.map((trigger) => {
            if (trigger.error) return <InvalidTrigger key={trigger.nodeId} trigger={trigger} editor={editor} />;
            switch (trigger.kind) {
              case "webhook":
                return (
                  <WebhookCard
                    key={trigger.nodeId}
                    trigger={trigger}
                    activate={{ run: () => void activate(), blocked: cannotWrite, busy: activation.busy }}
                  />
                );
              case "schedule":
                return <ScheduleCard key={trigger.nodeId} trigger={trigger} />;
              case "error":
                return <ErrorTriggerCard key={trigger.nodeId} trigger={trigger} />;
              default:
                return null;
            }
          })}
        </div>
        <CronPreview />
      </section>

      <SharesPanel workflowId={workflowId} blocked={cannotShare} />
    </div>
  );
}
