// "Are you sure?" for actions that cannot be undone; keeps the server's refusal in view.
import type { ReactNode } from "react";
import { DialogForm } from "../../ui/DialogForm";
import { Modal } from "../../ui/Modal";

interface ConfirmProps {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  /** The button that closes the dialog doing nothing ("Cancel"). */
  cancelLabel?: string;
  onConfirm: () => Promise<unknown>;
  onClose: () => void;
  /** Called after onConfirm succeeded (the dialog closes itself first). */
  onDone?: () => void;
}

export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  cancelLabel,
  onConfirm,
  onClose,
  onDone,
}: ConfirmProps) {
  const confirm = async () => {
    await onConfirm();
    onClose();
    onDone?.();
  };
  return (
    <Modal title={title} onClose={onClose}>
      <DialogForm onSubmit={confirm} onCancel={onClose} submitLabel={confirmLabel} cancelLabel={cancelLabel} danger>
        <div className="modal-body">{children}</div>
      </DialogForm>
    </Modal>
  );
}
