// A button that something may block (most often a permission the caller lacks): disabled then,
// with the reason as its tooltip.
import type { ButtonHTMLAttributes } from "react";

interface GuardedProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  /** Why it may not be used, or null; its title otherwise. */
  blocked: string | null | undefined;
}

export function GuardedButton({ blocked, disabled, title, type = "button", ...rest }: GuardedProps) {
  return <button {...rest} type={type} disabled={Boolean(blocked) || disabled} title={blocked ?? title} />;
}
