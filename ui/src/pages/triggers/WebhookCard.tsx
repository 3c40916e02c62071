// A webhook trigger: its URL to copy, and a test request to send with an editable body.
import { useState } from "react";
import { Link } from "react-router";
import { CopyButton } from "../../ui/CopyButton";
import { Field } from "../common/Field";
import { parseTestBody, sendTestRequest, type HookAnswer } from "./webhookTest";
import type { WebhookTrigger } from "./types";

interface WebhookProps {
  trigger: WebhookTrigger;
  /** Why the workflow cannot be activated from here, or null; undefined when active. */
  activate?: { run: () => void; blocked: string | null; busy: boolean };
}

const RESPOND: Record<string, string> = {
  immediately: "answers 202 with the execution id at once",
  when_finished: "waits for the run and answers with its result",
};

export function WebhookCard({ trigger, activate }: WebhookProps) {
  const path = trigger.path ?? "";
  const methods = trigger.methods ?? [];
  const [method, setMethod] = useState(methods.includes("POST") ? "POST" : (methods[0] ?? "POST"));
  const [body, setBody] = useState('{\n  "name": "Ada"\n}');
  const [bodyError, setBodyError] = useState<string | null>(null);
  const [answer, setAnswer] = useState<HookAnswer | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [sending, setSending] = useState(false);

  const send = async () => {
    const parsed = parseTestBody(body);
    if (!parsed.ok) {
      setBodyError(`Not valid JSON: ${parsed.error}`);
      return;
    }
    setBodyError(null);
    setFailure(null);
    setSending(true);
    try {
      setAnswer(await sendTestRequest(path, method, parsed.json));
    } catch (err) {
      setAnswer(null);
      setFailure(err instanceof Error ? err.message : String(err));
    } finally {
      setSending(false);
    }
  };

  return (
    <section className="panel trigger-card" aria-label={`Webhook ${path}`}>
      <header className="trigger-head">
        <span className="badge">webhook</span>
        <strong className="mono">/hooks/{path}</strong>
        <span className="muted small">node {trigger.nodeId}</span>
      </header>
      <div className="url-row">
        <code className="url" title="The webhook's URL">
          {trigger.url}
        </code>
        <CopyButton text={trigger.url ?? ""} label="Copy URL" ariaLabel={`Copy webhook URL ${path}`} />
      </div>
      <p className="facts">
        Accepts {methods.join(", ") || "every method"}; {RESPOND[trigger.respond ?? "immediately"]}.
        {trigger.signed &&
          " Requests must be signed (Standard Webhooks): an unsigned test request is refused with 401."}
      </p>
      {!trigger.active && (
        <div className="notice" role="note">
          This workflow is not active: its webhook answers 404 until it is activated.{" "}
          {activate && (
            <button
              type="button"
              onClick={activate.run}
              disabled={activate.busy || Boolean(activate.blocked)}
              title={activate.blocked ?? undefined}
            >
              Activate workflow
            </button>
          )}
        </div>
      )}
      <div className="hook-test">
        <Field label="Test body (JSON)" error={bodyError}>
          {(control) => (
            <textarea {...control} rows={5} value={body} onChange={(e) => {
                setBody(e.target.value);
                setBodyError(null);
              }} spellCheck={false} />
          )}
        </Field>
        <div className="toolbar">
          {methods.length > 1 && (
            <Field label="Method" className="inline">
              {(control) => (
                <select {...control} value={method} onChange={(e) => setMethod(e.target.value)}>
                  {methods
                    .filter((m) => m !== "HEAD" && m !== "OPTIONS")
                    .map((m) => (
                      <option key={m}>{m}</option>
                    ))}
                </select>
              )}
            </Field>
          )}
          <button type="button" onClick={() => void send()} disabled={sending}>
            {sending ? "Sending…" : "Send test request"}
          </button>
        </div>
        {failure && (
          <div className="error-box" role="alert">
            The request failed: {failure}
          </div>
        )}
        {answer && (
          <div className="hook-answer" role="status" aria-label="Test answer">
            <p>
              <span className={`badge ${answer.status < 300 ? "COMPLETED" : "FAILED"}`}>
                {answer.status} {answer.statusText}
              </span>
              {answer.executionId && (
                <>
                  {" "}
                  <Link to={`/executions/${encodeURIComponent(answer.executionId)}`}>
                    Open execution {answer.executionId}
                  </Link>
                </>
              )}
            </p>
            {answer.status === 404 && !trigger.active && (
              <p className="muted small">404: the workflow is not active.</p>
            )}
            {answer.body && <pre className="answer-body">{answer.body}</pre>}
          </div>
        )}
      </div>
    </section>
  );
}
