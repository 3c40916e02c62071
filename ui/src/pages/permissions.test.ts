import { describe, expect, it } from "vitest";
import { parseScopes, keyState } from "./apikeys/scopes";
import { can, scopeAllows, whyNot } from "./common/permissions";

describe("scopeAllows", () => {
  it("matches literally and through wildcards, as the server does", () => {
    expect(scopeAllows(["*"], "members:write")).toBe(true);
    expect(scopeAllows(["workflows:read"], "workflows:read")).toBe(true);
    expect(scopeAllows(["workflows:read"], "workflows:write")).toBe(false);
    expect(scopeAllows(["services:*"], "services:http:request")).toBe(true);
    expect(scopeAllows(["services:http:*"], "services:http:request")).toBe(true);
    expect(scopeAllows(["services:*"], "services")).toBe(false);
  });
});

describe("whyNot", () => {
  // rolePermissions as /api/v1/auth/me reports them (security/rbac.py ROLE_PERMISSIONS)
  const viewing = ["account:write", "apikeys:own", "executions:read", "members:read", "orgs:create", "workflows:export", "workflows:read"];
  const administering = [...viewing, "apikeys:admin", "audit:read", "credentials:read", "credentials:use", "credentials:write", "executions:delete", "executions:write", "members:write", "metrics:read", "services:*", "workflows:delete", "workflows:share", "workflows:write"];
  const viewer = { role: "viewer" as const, rolePermissions: viewing, scopes: ["*"] };
  const admin = { role: "admin" as const, rolePermissions: administering, scopes: ["*"] };
  const owner = { role: "owner" as const, rolePermissions: ["*"], scopes: ["*"] };

  it("follows the permissions the server reports for the role", () => {
    expect(can(viewer, "workflows:read")).toBe(true);
    expect(whyNot(viewer, "workflows:write")).toBe("Your role (viewer) does not allow workflows:write");
    expect(can(admin, "members:write")).toBe(true);
    expect(can(admin, "members:owner")).toBe(false);
    expect(can(admin, "org:write")).toBe(false);
    expect(can(owner, "org:write")).toBe(true);
  });

  it("narrows by the scopes of an API key", () => {
    const key = { role: "owner" as const, rolePermissions: ["*"], scopes: ["workflows:read"] };
    expect(can(key, "workflows:read")).toBe(true);
    expect(whyNot(key, "workflows:write")).toMatch(/scopes/);
  });

  it("lets the server decide while who is asking is unknown", () => {
    expect(whyNot(null, "members:write")).toBeNull();
  });
});

describe("parseScopes", () => {
  it("splits on spaces and commas, without repeats", () => {
    expect(parseScopes(" workflows:read, executions:write  workflows:read ")).toEqual([
      "workflows:read",
      "executions:write",
    ]);
    expect(parseScopes("")).toEqual([]);
  });
});

describe("keyState", () => {
  const now = Date.parse("2026-01-02T00:00:00Z");
  it("tells revoked, expired and active keys apart", () => {
    expect(keyState({ revokedAt: "2026-01-01T00:00:00Z", expiresAt: null }, now)).toBe("revoked");
    expect(keyState({ revokedAt: null, expiresAt: "2026-01-01T00:00:00Z" }, now)).toBe("expired");
    expect(keyState({ revokedAt: null, expiresAt: "2026-02-01T00:00:00Z" }, now)).toBe("active");
    expect(keyState({ revokedAt: null, expiresAt: null }, now)).toBe("active");
  });
});
