// JSON typed by a person: parsed with a message that says where it went wrong.
export type Parsed = { ok: true; value: unknown } | { ok: false; message: string };

export function parseJson(text: string): Parsed {
  if (!text.trim()) return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return { ok: false, message: `Not valid JSON: ${detail}` };
  }
}

export function pretty(value: unknown): string {
  return JSON.stringify(value ?? null, null, 2) ?? "null";
}
