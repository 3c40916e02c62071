// "Import": a JSON or YAML workflow file, chosen or pasted, as `flowforge export` writes it.
import { useState } from "react";
import { Link } from "react-router";
import { api } from "../../api/client";
import type { WorkflowDetail } from "../../api/types";
import { DialogForm } from "../../ui/DialogForm";
import { Modal } from "../../ui/Modal";
import { Field } from "../common/Field";
import { importTypeOf } from "./importType";

interface ImportProps {
  onClose: () => void;
  onImported: (workflow: WorkflowDetail) => void;
}

export function ImportDialog({ onClose, onImported }: ImportProps) {
  const [fileName, setFileName] = useState<string | null>(null);
  const [text, setText] = useState("");
  const [activate, setActivate] = useState(false);
  const [imported, setImported] = useState<WorkflowDetail | null>(null);

  const choose = async (file: File | undefined) => {
    if (!file) return;
    setFileName(file.name);
    setText(await file.text());
  };

  const submit = async () => {
    const created = await api<WorkflowDetail>("POST", "/api/v1/workflows/import", {
      body: text,
      contentType: importTypeOf(text, fileName),
      query: activate ? { active: true } : undefined,
    });
    setImported(created);
    onImported(created);
  };

  if (imported) {
    return (
      <Modal title="Import a workflow" onClose={onClose}>
        <p role="status">
          Imported <strong>{imported.name}</strong> as version {imported.version}
          {imported.active ? ", active" : ""}.
        </p>
        <div className="modal-actions">
          <Link className="button ghost" to={`/workflows/${encodeURIComponent(imported.id)}/settings`}>
            Triggers and sharing
          </Link>
          <Link className="button ghost" to={`/workflows/${encodeURIComponent(imported.id)}`}>
            Open in the editor
          </Link>
          <button type="button" onClick={onClose}>
            Close
          </button>
        </div>
      </Modal>
    );
  }

  return (
    <Modal title="Import a workflow" onClose={onClose} wide>
      <DialogForm onSubmit={submit} onCancel={onClose} submitLabel="Import" disabled={!text.trim()}>
        <Field label="Workflow file" hint="JSON or YAML, as Export or `flowforge export` writes it.">
          {(control) => (
            <input
              {...control}
              type="file"
              accept=".json,.yaml,.yml,application/json,application/yaml,text/yaml"
              onChange={(e) => void choose(e.target.files?.[0])}
            />
          )}
        </Field>
        <Field
          label="Workflow text"
          hint={`Or paste it here. Read as ${
            importTypeOf(text, fileName) === "application/json" ? "JSON" : "YAML"
          }${fileName ? ` (from ${fileName})` : ""}.`}
        >
          {(control) => (
            <textarea
              {...control}
              rows={14}
              value={text}
              onChange={(e) => {
                setText(e.target.value);
                // pasted or edited text is read by its content, not by the file it came from
                if (fileName) setFileName(null);
              }}
              spellCheck={false}
              placeholder={"name: hello\nnodes:\n  - id: start\n    type: flow.start"}
            />
          )}
        </Field>
        <label className="check">
          <input type="checkbox" checked={activate} onChange={(e) => setActivate(e.target.checked)} />
          Activate its triggers at once
        </label>
      </DialogForm>
    </Modal>
  );
}
