// What the caller's role and key scopes allow, mirrored from src/flowforge/security/rbac.py so
// that controls the server would refuse are disabled with the reason. The server still
// decides: its 403 is shown if the two ever disagree.
import type { Me, Role } from "../../api/types";

const VIEWER = [
  "workflows:read",
  "workflows:export",
  "executions:read",
  "members:read",
  "apikeys:own",
  "account:write",
  "orgs:create",
];
const EDITOR = [
  ...VIEWER,
  "workflows:write",
  "workflows:delete",
  "workflows:share",
  "executions:write",
  "executions:delete",
  "credentials:read",
  "credentials:write",
  "credentials:use",
  "services:*",
];
const ADMIN = [...EDITOR, "members:write", "apikeys:admin", "audit:read", "metrics:read"];

export const ROLE_PERMISSIONS: Record<Role, readonly string[]> = {
  viewer: VIEWER,
  editor: EDITOR,
  admin: ADMIN,
  owner: ["*"],
};

/** Roles from least to most powerful. */
export const ROLES: readonly Role[] = ["viewer", "editor", "admin", "owner"];

/** Every permission a route names (for the scopes of a new API key). */
export const KNOWN_SCOPES: readonly string[] = [...ADMIN, "org:write", "members:owner"];

/** Whether `granted` scopes cover `needed` (security/apikeys.py `scope_allows`). */
export function scopeAllows(granted: readonly string[], needed: string): boolean {
  if (granted.includes(needed) || granted.includes("*")) return true;
  const segments = needed.split(":");
  for (let depth = 1; depth < segments.length; depth++) {
    if (granted.includes(`${segments.slice(0, depth).join(":")}:*`)) return true;
  }
  return false;
}

type Caller = Pick<Me, "role" | "scopes"> | null | undefined;

/**
 * Why the caller may not do `permission` in their organisation, or null if they may (or if
 * who they are is not known yet: the server will say).
 */
export function whyNot(caller: Caller, permission: string): string | null {
  if (!caller) return null;
  if (!scopeAllows(ROLE_PERMISSIONS[caller.role], permission)) {
    return `Your role (${caller.role}) does not allow ${permission}`;
  }
  if (!scopeAllows(caller.scopes, permission)) {
    return `The scopes of the API key you signed in with do not cover ${permission}`;
  }
  return null;
}

export const can = (caller: Caller, permission: string): boolean =>
  whyNot(caller, permission) === null;
