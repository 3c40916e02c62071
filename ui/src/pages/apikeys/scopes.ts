// Scopes as typed: separated by spaces or commas.

export function parseScopes(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

export type KeyState = "active" | "revoked" | "expired";

export function keyState(
  key: { revokedAt: string | null; expiresAt: string | null },
  now: number = Date.now(),
): KeyState {
  if (key.revokedAt) return "revoked";
  if (key.expiresAt && new Date(key.expiresAt).getTime() <= now) return "expired";
  return "active";
}
