// What the caller's role (as /auth/me reports its permissions) and key scopes allow, so that
// controls the server would refuse are disabled with the reason. The server still decides:
// its 403 is shown if the two ever disagree.
import type { Me, Role } from "../../api/types";

/** Roles from least to most powerful. */
export const ROLES: readonly Role[] = ["viewer", "editor", "admin", "owner"];

/** Whether `granted` scopes cover `needed` (security/apikeys.py `scope_allows`). */
export function scopeAllows(granted: readonly string[], needed: string): boolean {
  if (granted.includes(needed) || granted.includes("*")) return true;
  const segments = needed.split(":");
  for (let depth = 1; depth < segments.length; depth++) {
    if (granted.includes(`${segments.slice(0, depth).join(":")}:*`)) return true;
  }
  return false;
}

type Caller = Pick<Me, "role" | "rolePermissions" | "scopes"> | null | undefined;

/**
 * Why the caller may not do `permission` in their organisation, or null if they may (or if
 * who they are is not known yet: the server will say).
 */
export function whyNot(caller: Caller, permission: string): string | null {
  if (!caller?.rolePermissions) return null; // a session stored before the server said
  if (!scopeAllows(caller.rolePermissions, permission)) {
    return `Your role (${caller.role}) does not allow ${permission}`;
  }
  if (!scopeAllows(caller.scopes, permission)) {
    return `The scopes of the API key you signed in with do not cover ${permission}`;
  }
  return null;
}

export const can = (caller: Caller, permission: string): boolean =>
  whyNot(caller, permission) === null;
