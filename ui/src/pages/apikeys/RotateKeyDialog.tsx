// "Rotate": the same key id with a new secret, shown once; the old secret may keep working
// for a grace period.
import { useState } from "react";
import { post } from "../../api/client";
import type { ApiKey, ApiKeyIssued } from "../../api/types";
import { DialogForm } from "../../ui/DialogForm";
import { Modal } from "../../ui/Modal";
import { Field } from "../common/Field";
import { IssuedKey } from "./IssuedKey";

interface RotateProps {
  apiKey: ApiKey;
  signedInWithIt: boolean;
  onClose: () => void;
  onRotated: () => void;
}

export function RotateKeyDialog({ apiKey, signedInWithIt, onClose, onRotated }: RotateProps) {
  const [grace, setGrace] = useState("0");
  const [issued, setIssued] = useState<ApiKeyIssued | null>(null);

  const submit = async () => {
    setIssued(
      await post<ApiKeyIssued>(`/api/v1/api-keys/${encodeURIComponent(apiKey.id)}/rotate`, {
        graceSeconds: Number(grace || 0),
      }),
    );
    onRotated();
  };

  if (issued) {
    return (
      <Modal title="API key rotated" onClose={onClose}>
        <IssuedKey secret={issued.key} onDone={onClose}>
          {signedInWithIt && (
            <p className="notice" role="note">
              You are signed in with this key: sign in again with the new secret once the old
              one stops working.
            </p>
          )}
        </IssuedKey>
      </Modal>
    );
  }
  return (
    <Modal title="Rotate API key" onClose={onClose}>
      <DialogForm onSubmit={submit} onCancel={onClose} submitLabel="Rotate key">
        <p>
          Give <strong>{apiKey.name}</strong> ({apiKey.prefix}…) a new secret. Its id, role and
          scopes stay.
        </p>
        <Field label="Grace period (seconds)" hint="How long the old secret keeps working; 0 stops it at once.">
          {(control) => (
            <input
              {...control}
              type="number"
              min={0}
              max={604800}
              step={1}
              value={grace}
              onChange={(e) => setGrace(e.target.value)}
            />
          )}
        </Field>
      </DialogForm>
    </Modal>
  );
}
