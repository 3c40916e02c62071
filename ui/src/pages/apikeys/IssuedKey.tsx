// A key just made or given a new secret: the secret, shown this once, and "Done".
import type { ReactNode } from "react";
import { SecretOnce } from "../common/SecretOnce";

interface IssuedProps {
  secret: string;
  onDone: () => void;
  /** Said above the secret. */
  lead?: ReactNode;
  /** Said under it. */
  children?: ReactNode;
}

export function IssuedKey({ secret, onDone, lead, children }: IssuedProps) {
  return (
    <>
      {lead}
      <SecretOnce label="New API key" value={secret} />
      {children}
      <div className="modal-actions">
        <button type="button" onClick={onDone}>
          Done
        </button>
      </div>
    </>
  );
}
