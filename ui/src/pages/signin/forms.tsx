// The ways to sign in, one form each; each hands the server's answer to `onTokens` or
// `onApiKey` and keeps what was typed when the server says no.
import { useState, type FormEvent } from "react";
import type { Me, Tokens } from "../../api/types";
import { useAction } from "../../ui/useAction";
import { publicCall } from "../common/publicApi";
import { Field } from "../common/Field";
import { Problem } from "./Problem";
import { toHexUtf8, walletProvider } from "./wallet";

interface TokenProps {
  onTokens: (tokens: Tokens) => void;
}

export function ApiKeyForm({ onApiKey }: { onApiKey: (key: string, me: Me) => void }) {
  const [key, setKey] = useState("");
  const { busy, error, run } = useAction();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const trimmed = key.trim();
    // checked before it is kept: a wrong key must not become the session
    void run(async () => onApiKey(trimmed, await publicCall<Me>("GET", "/api/v1/auth/me", { bearer: trimmed })));
  };
  return (
    <form onSubmit={submit} className="signin-form">
      <Field
        label="API key"
        hint={
          <>
            Made with <code>flowforge keys create --role owner</code> or on the API keys page.
          </>
        }
      >
        {(control) => (
          <input
            {...control}
            type="password"
            className="mono"
            value={key}
            onChange={(e) => setKey(e.target.value)}
            autoComplete="off"
            spellCheck={false}
            placeholder="ffk_…"
            required
            autoFocus
          />
        )}
      </Field>
      <Problem error={error} method="apiKey" />
      <button type="submit" disabled={busy || !key.trim()}>
        {busy ? "Checking…" : "Sign in with API key"}
      </button>
    </form>
  );
}

export function PasswordForm({ onTokens }: TokenProps) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, run } = useAction();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void run(async () =>
      onTokens(await publicCall<Tokens>("POST", "/api/v1/auth/login", { body: { email: email.trim(), password } })),
    );
  };
  return (
    <form onSubmit={submit} className="signin-form">
      <label className="field">
        <span>E-mail</span>
        <input
          type="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          autoComplete="username"
          required
          autoFocus
        />
      </label>
      <label className="field">
        <span>Password</span>
        <input
          type="password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          autoComplete="current-password"
          required
        />
      </label>
      <Problem error={error} method="password" />
      <button type="submit" disabled={busy}>
        {busy ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}

interface Challenge {
  message: string;
}

export function WalletForm({ onTokens }: TokenProps) {
  const { busy, error, run } = useAction();
  const [step, setStep] = useState("");
  const signIn = () =>
    run(async () => {
      const wallet = walletProvider();
      if (!wallet) throw new Error("No wallet found in this browser.");
      setStep("Choose an account in your wallet…");
      const accounts = (await wallet.request({ method: "eth_requestAccounts" })) as string[];
      const account = accounts[0];
      if (!account) throw new Error("The wallet gave no account.");
      const { message } = await publicCall<Challenge>("POST", "/api/v1/auth/challenge", {
        body: { account },
      });
      setStep("Sign the message in your wallet…");
      const signature = (await wallet.request({
        method: "personal_sign",
        params: [toHexUtf8(message), account],
      })) as string;
      setStep("Checking the signature…");
      onTokens(
        await publicCall<Tokens>("POST", "/api/v1/auth/signature", {
          body: { account, message, signature },
        }),
      );
    }).finally(() => setStep(""));
  return (
    <div className="signin-form">
      <p className="hint">
        Sign a one-time message with your Ethereum wallet. The address must be registered to
        your account first (Sign-in keys, from the command line or the API).
      </p>
      {step && (
        <p role="status" className="hint">
          {step}
        </p>
      )}
      <Problem error={error} method="wallet" />
      <button type="button" onClick={signIn} disabled={busy}>
        Sign in with wallet
      </button>
    </div>
  );
}

export function InviteForm({ onTokens, token: initial }: TokenProps & { token: string }) {
  const [token, setToken] = useState(initial);
  const [email, setEmail] = useState("");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, run } = useAction();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const body: Record<string, string> = { token: token.trim(), password };
    if (email.trim()) body.email = email.trim();
    if (name.trim()) body.name = name.trim();
    void run(async () => onTokens(await publicCall<Tokens>("POST", "/api/v1/auth/accept", { body })));
  };
  return (
    <form onSubmit={submit} className="signin-form">
      <p className="hint">
        The first start of a server prints a setup token for its owner; an admin who adds you
        gets an invite token for you. Either works once: choose your password with it.
      </p>
      <label className="field">
        <span>Invite or setup token</span>
        <input
          className="mono"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          autoComplete="off"
          spellCheck={false}
          required
          autoFocus={!initial}
        />
      </label>
      <Field
        label="Your e-mail (optional)"
        hint="For the setup token: the owner's address you will sign in with."
      >
        {(control) => (
          <input
            {...control}
            type="email"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            autoComplete="username"
          />
        )}
      </Field>
      <label className="field">
        <span>Your name (optional)</span>
        <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="name" />
      </label>
      <Field label="New password" hint="8 characters or more.">
        {(control) => (
          <input
            {...control}
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete="new-password"
            minLength={8}
            required
            autoFocus={Boolean(initial)}
          />
        )}
      </Field>
      <Problem error={error} method="invite" />
      <button type="submit" disabled={busy}>
        {busy ? "Signing in…" : "Set password and sign in"}
      </button>
    </form>
  );
}
