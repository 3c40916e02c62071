// Sends a test request to a webhook, from this page's origin (where the editor is served,
// the server answers /hooks too), and reads the answer.

export interface HookAnswer {
  status: number;
  statusText: string;
  body: string;
  executionId: string | null;
}

/** The body as JSON text, or the reason it is not JSON. */
export function parseTestBody(text: string): { ok: true; json: string } | { ok: false; error: string } {
  if (!text.trim()) return { ok: true, json: "" };
  try {
    return { ok: true, json: JSON.stringify(JSON.parse(text)) };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

export async function sendTestRequest(path: string, method: string, json: string): Promise<HookAnswer> {
  const withBody = json !== "" && method !== "GET" && method !== "HEAD";
  const response = await fetch(`/hooks/${path.split("/").map(encodeURIComponent).join("/")}`, {
    method,
    headers: withBody ? { "Content-Type": "application/json" } : {},
    body: withBody ? json : undefined,
  });
  const raw = await response.text();
  let body = raw;
  let executionId = response.headers.get("X-Execution-ID");
  try {
    const parsed: unknown = JSON.parse(raw);
    body = JSON.stringify(parsed, null, 2);
    const id = (parsed as { executionId?: unknown } | null)?.executionId;
    if (typeof id === "string") executionId = id;
  } catch {
    // not JSON: shown as it came
  }
  return { status: response.status, statusText: response.statusText, body, executionId };
}
