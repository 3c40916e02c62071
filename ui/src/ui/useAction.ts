// Something a page does on request (a form sent, a button pressed): busy while it runs, and its
// error kept to show until the next try.
import { useState } from "react";

export interface Action {
  busy: boolean;
  error: unknown;
  /** Runs `work`; resolves whether it succeeded (else its error is kept in `error`). */
  run: (work: () => Promise<unknown>) => Promise<boolean>;
}

export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (work: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
      return true;
    } catch (err) {
      setError(err);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}
