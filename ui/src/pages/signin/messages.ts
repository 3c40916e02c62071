// What went wrong with a sign-in, in words for the person signing in.
import { ApiError } from "../../api/client";
import { PublicApiError } from "../common/publicApi";

export type SignInMethod = "apiKey" | "password" | "wallet" | "invite";

/** "in 42 seconds", "in 3 minutes", "in 2 hours". */
export function waitPhrase(seconds: number): string {
  const count = (n: number, unit: string) => `in ${n} ${unit}${n === 1 ? "" : "s"}`;
  if (seconds < 90) return count(Math.max(1, Math.round(seconds)), "second");
  if (seconds < 90 * 60) return count(Math.round(seconds / 60), "minute");
  return count(Math.round(seconds / 3600), "hour");
}

/**
 * A sentence for an error of a sign-in, or null when the server's own message with its
 * fields (a 422) says it best.
 */
export function signInProblem(error: unknown, method: SignInMethod): string | null {
  if (!(error instanceof ApiError)) {
    return error instanceof Error ? error.message : String(error);
  }
  const retry = error instanceof PublicApiError ? error.retryAfter : null;
  if (error.status === 429) {
    const when = retry ? waitPhrase(retry) : "later";
    if (error.code === "ACCOUNT_LOCKED") {
      return `This account is locked after too many wrong passwords: try again ${when}.`;
    }
    return `Too many sign-in attempts from this address: try again ${when}.`;
  }
  if (error.status === 401) {
    switch (method) {
      case "apiKey":
        return "This API key is not valid: it is wrong, revoked or expired.";
      case "password":
        return "Wrong e-mail address or password.";
      case "wallet":
        return `The signature was not accepted: ${error.message}`;
      case "invite":
        return "This invite or setup token is unknown, already used or expired.";
    }
  }
  if (error.status === 403) return error.message;
  if (error.status === 422 || error.status === 409) return null;
  if (error.status >= 500) return `The server failed (${error.status}): ${error.message}`;
  return error.message;
}
