// Who is signed in, with what, in which organisation; kept in localStorage across reloads.
import { create } from "zustand";
import { persist } from "zustand/middleware";
import type { Me, Tokens } from "../api/types";

export type Theme = "light" | "dark";

interface SessionState {
  /** A session's tokens (password or signature sign-in) … */
  accessToken: string | null;
  refreshToken: string | null;
  /** … or an API key pasted at sign-in. */
  apiKey: string | null;
  /** The organisation a session acts in (X-FlowForge-Org). */
  orgId: string | null;
  me: Me | null;
  theme: Theme;
  /** Set when the server stopped accepting the credentials: the sign-in page says why. */
  expiredAt: number | null;
  setTokens: (tokens: Tokens) => void;
  setApiKey: (key: string) => void;
  setMe: (me: Me) => void;
  setOrg: (orgId: string) => void;
  setTheme: (theme: Theme) => void;
  expired: () => void;
  signOut: () => void;
}

const signedOut = {
  accessToken: null,
  refreshToken: null,
  apiKey: null,
  orgId: null,
  me: null,
};

export const useSession = create<SessionState>()(
  persist(
    (set) => ({
      ...signedOut,
      theme:
        typeof window !== "undefined" && window.matchMedia?.("(prefers-color-scheme: dark)").matches
          ? "dark"
          : "light",
      expiredAt: null,
      setTokens: (tokens) =>
        set((state) => ({
          accessToken: tokens.accessToken,
          refreshToken: tokens.refreshToken,
          apiKey: null,
          orgId: tokens.orgId ?? state.orgId,
          expiredAt: null,
        })),
      setApiKey: (key) => set({ ...signedOut, apiKey: key, expiredAt: null }),
      setMe: (me) => set({ me, orgId: me.orgId }),
      setOrg: (orgId) => set({ orgId }),
      setTheme: (theme) => set({ theme }),
      expired: () => set({ ...signedOut, expiredAt: Date.now() }),
      signOut: () => set({ ...signedOut, expiredAt: null }),
    }),
    { name: "flowforge.session" },
  ),
);

export const isSignedIn = (state: Pick<SessionState, "accessToken" | "apiKey">) =>
  Boolean(state.accessToken ?? state.apiKey);
