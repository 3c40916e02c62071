// "New workflow": a name, stored as version 1 with a single start node, then the editor.
import { useState } from "react";
import { useNavigate } from "react-router";
import { post } from "../../api/client";
import type { WorkflowDetail } from "../../api/types";
import { DialogForm } from "../../ui/DialogForm";
import { Modal } from "../../ui/Modal";
import { Field } from "../common/Field";
import { newDefinition } from "./importType";

export function NewWorkflowDialog({ onClose }: { onClose: () => void }) {
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const submit = async () => {
    const created = await post<WorkflowDetail>("/api/v1/workflows", newDefinition(name.trim()));
    navigate(`/workflows/${encodeURIComponent(created.id)}`);
  };
  return (
    <Modal title="New workflow" onClose={onClose}>
      <DialogForm onSubmit={submit} onCancel={onClose} submitLabel="Create" disabled={!name.trim()}>
        <Field label="Workflow name" hint="It starts with one Start node; add steps in the editor.">
          {(control) => (
            <input
              {...control}
              value={name}
              onChange={(e) => setName(e.target.value)}
              maxLength={200}
              required
              autoFocus
            />
          )}
        </Field>
      </DialogForm>
    </Modal>
  );
}
