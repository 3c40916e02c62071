// /signin: an API key, a password, a wallet signature, or an invite / setup token. Afterwards
// back to the page the user came from.
import { useState, type KeyboardEvent } from "react";
import { useLocation, useNavigate, useSearchParams } from "react-router";
import type { Me, Tokens } from "../api/types";
import { useSession } from "../store/session";
import { ApiKeyForm, InviteForm, PasswordForm, WalletForm } from "./signin/forms";
import { walletProvider } from "./signin/wallet";
import "./pages.css";

type Method = "password" | "apiKey" | "wallet";
type View = Method | "invite";

const TAB_NAMES: Record<Method, string> = {
  password: "Password",
  apiKey: "API key",
  wallet: "Wallet",
};

export function SignIn() {
  const navigate = useNavigate();
  const location = useLocation();
  const [params] = useSearchParams();
  const inviteToken = params.get("invite") ?? "";
  const { expiredAt, setTokens, setApiKey, setMe } = useSession();
  const [view, setView] = useState<View>(inviteToken ? "invite" : "password");
  const methods: Method[] = walletProvider()
    ? ["password", "apiKey", "wallet"]
    : ["password", "apiKey"];

  const from = (location.state as { from?: unknown } | null)?.from;
  const goOn = () =>
    navigate(typeof from === "string" && from.startsWith("/") && from !== "/signin" ? from : "/workflows", {
      replace: true,
    });
  const onTokens = (tokens: Tokens) => {
    setTokens(tokens);
    goOn();
  };
  const onApiKey = (key: string, me: Me) => {
    setApiKey(key);
    setMe(me);
    goOn();
  };

  const onTabKey = (event: KeyboardEvent<HTMLButtonElement>, index: number) => {
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    const next = methods[(index + step + methods.length) % methods.length];
    if (next) {
      setView(next);
      document.getElementById(`signin-tab-${next}`)?.focus();
    }
  };

  return (
    <div className="signin-page">
      <main className="signin-card panel" aria-labelledby="signin-title">
        <h1 id="signin-title">Sign in to FlowForge</h1>
        {expiredAt && view !== "invite" && (
          <p className="notice" role="status">
            Your session has ended: sign in again to go on.
          </p>
        )}
        {view === "invite" ? (
          <>
            <InviteForm onTokens={onTokens} token={inviteToken} />
            <button type="button" className="link-button" onClick={() => setView("password")}>
              Back to sign-in
            </button>
          </>
        ) : (
          <>
            <div role="tablist" aria-label="Sign-in method" className="tabs">
              {methods.map((method, index) => (
                <button
                  key={method}
                  id={`signin-tab-${method}`}
                  type="button"
                  role="tab"
                  aria-selected={view === method}
                  aria-controls="signin-panel"
                  tabIndex={view === method ? 0 : -1}
                  className={view === method ? "tab selected" : "tab"}
                  onClick={() => setView(method)}
                  onKeyDown={(e) => onTabKey(e, index)}
                >
                  {TAB_NAMES[method]}
                </button>
              ))}
            </div>
            {/* not labelled by its tab: "API key" must name the key's input alone */}
            <div id="signin-panel" role="tabpanel">
              {view === "password" && <PasswordForm onTokens={onTokens} />}
              {view === "apiKey" && <ApiKeyForm onApiKey={onApiKey} />}
              {view === "wallet" && <WalletForm onTokens={onTokens} />}
            </div>
            <button type="button" className="link-button" onClick={() => setView("invite")}>
              I have an invite or setup token
            </button>
          </>
        )}
      </main>
    </div>
  );
}
