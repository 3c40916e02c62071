// The frame around every signed-in page: navigation, organisation switcher, theme, sign-out.
import { useEffect } from "react";
import { NavLink, Outlet, useNavigate } from "react-router";
import { get, post } from "../api/client";
import type { Me } from "../api/types";
import { useSession } from "../store/session";

export function Layout() {
  const { me, orgId, theme, refreshToken, setMe, setOrg, setTheme, signOut } = useSession();
  const navigate = useNavigate();

  useEffect(() => {
    get<Me>("/api/v1/auth/me").then(setMe, () => undefined);
  }, [orgId, setMe]);

  const leave = async () => {
    if (refreshToken) await post("/api/v1/auth/logout", { refreshToken }).catch(() => undefined);
    signOut();
    navigate("/signin");
  };

  return (
    <div className="shell">
      <header className="topbar">
        <NavLink to="/workflows" className="brand" aria-label="FlowForge home">
          FlowForge
        </NavLink>
        <nav aria-label="Main">
          <NavLink to="/workflows">Workflows</NavLink>
          <NavLink to="/executions">Executions</NavLink>
          <NavLink to="/settings/credentials">Credentials</NavLink>
          <NavLink to="/settings/api-keys">API keys</NavLink>
          <NavLink to="/settings/members">Members</NavLink>
        </nav>
        <div className="topbar-end">
          {me && me.orgs.length > 0 && (
            <label className="org-switch">
              <span className="visually-hidden">Organisation</span>
              <select
                aria-label="Organisation"
                value={me.orgId}
                disabled={!useSession.getState().accessToken || me.orgs.length < 2}
                title={
                  useSession.getState().accessToken
                    ? "The organisation you act in"
                    : "An API key acts in its own organisation"
                }
                onChange={(e) => {
                  setOrg(e.target.value);
                  navigate("/workflows");
                }}
              >
                {me.orgs.map((org) => (
                  <option key={org.id} value={org.id}>
                    {org.name}
                  </option>
                ))}
              </select>
            </label>
          )}
          <span className="who" title={me?.role ?? ""}>
            {me?.user?.email ?? (me?.keyId ? `API key ${me.keyId}` : "")}
          </span>
          <button
            type="button"
            className="ghost"
            aria-label={theme === "dark" ? "Use the light theme" : "Use the dark theme"}
            onClick={() => setTheme(theme === "dark" ? "light" : "dark")}
          >
            {theme === "dark" ? "☀" : "☾"}
          </button>
          <button type="button" className="ghost" onClick={leave}>
            Sign out
          </button>
        </div>
      </header>
      <main className="page">
        <Outlet />
      </main>
    </div>
  );
}
