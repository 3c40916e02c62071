// Calls made before anyone is signed in (or to check a key not yet stored): they must not
// touch the session, whose 401 handling would report a "session ended" that never began.
import { ApiError, type ErrorDetail } from "../../api/client";

/** An error answer, with Retry-After (in seconds) when the server gave one. */
export class PublicApiError extends ApiError {
  constructor(
    status: number,
    code: string,
    message: string,
    details: ErrorDetail[],
    readonly retryAfter: number | null,
  ) {
    super(status, code, message, details);
  }
}

interface CallOptions {
  body?: unknown;
  bearer?: string;
}

export async function publicCall<T>(
  method: string,
  path: string,
  { body, bearer }: CallOptions = {},
): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.ok) return (await response.json()) as T;
  let error: { code?: string; message?: string; details?: ErrorDetail[] } | undefined;
  try {
    error = ((await response.json()) as { error?: typeof error }).error;
  } catch {
    // not JSON: a proxy's page
  }
  const retry = Number(response.headers.get("Retry-After"));
  throw new PublicApiError(
    response.status,
    error?.code ?? "HTTP_ERROR",
    error?.message ?? `${response.status} ${response.statusText}`,
    error?.details ?? [],
    Number.isFinite(retry) && retry > 0 ? retry : null,
  );
}
