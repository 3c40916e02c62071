// Copies text to the clipboard and says so; falls back to selecting it where the clipboard
// API is missing or refused (plain http on another host than localhost).
import { useState } from "react";

interface CopyProps {
  /** What is copied; a function is asked only on the click (for a value costly to write out). */
  text: string | (() => string);
  label?: string;
  /** The accessible name, when "Copy" alone would be ambiguous on the page. */
  ariaLabel?: string;
  /** A small button, as in a panel's title bar. */
  small?: boolean;
  /** What the button says when copying failed. */
  failedLabel?: string;
}

export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

export function CopyButton({
  text,
  label = "Copy",
  ariaLabel,
  small,
  failedLabel = "Copy failed: select it",
}: CopyProps) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  return (
    <button
      type="button"
      className={small ? "ghost small" : "ghost"}
      aria-label={ariaLabel}
      onClick={async () => {
        setState((await copyText(typeof text === "function" ? text() : text)) ? "copied" : "failed");
        setTimeout(() => setState("idle"), 2000);
      }}
    >
      {state === "copied" ? "Copied" : state === "failed" ? failedLabel : label}
    </button>
  );
}
