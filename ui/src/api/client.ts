// One way to call the server: the session's credentials, the chosen organisation, and errors
// in the API's one shape ({"error": {code, message, details: [{field, message}]}}).
import { EventSourceParserStream } from "eventsource-parser/stream";
import { useSession } from "../store/session";
import type { Tokens } from "./types";

export interface ErrorDetail {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
    readonly requestId: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  query?: Query;
  /** A JSON body (serialised here), or raw text with `contentType`. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Answer with the response text instead of parsed JSON. */
  text?: boolean;
}

export function url(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

function authHeaders(): Record<string, string> {
  const { accessToken, apiKey, orgId } = useSession.getState();
  const headers: Record<string, string> = {};
  const secret = accessToken ?? apiKey;
  if (secret) headers.Authorization = `Bearer ${secret}`;
  if (accessToken && orgId) headers["X-FlowForge-Org"] = orgId;
  return headers;
}

async function errorOf(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's page or an empty body
  }
  const error = (body as { error?: Partial<ApiError> & { details?: ErrorDetail[] } } | null)
    ?.error;
  if (error && typeof error.message === "string") {
    return new ApiError(
      response.status,
      error.code ?? "ERROR",
      error.message,
      error.details ?? [],
      (error as { requestId?: string }).requestId ?? null,
    );
  }
  return new ApiError(response.status, "HTTP_ERROR", `${response.status} ${response.statusText}`);
}

let refreshing: Promise<boolean> | null = null;

/** Exchanges the refresh token once for all callers that got a 401 at the same time. */
async function refreshSession(): Promise<boolean> {
  const { refreshToken } = useSession.getState();
  if (!refreshToken) return false;
  refreshing ??= (async () => {
    try {
      const response = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refreshToken }),
      });
      if (!response.ok) return false;
      useSession.getState().setTokens((await response.json()) as Tokens);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function send(method: string, path: string, options: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { ...authHeaders(), ...options.headers };
  let body: BodyInit | undefined;
  if (options.body !== undefined) {
    if (options.contentType) {
      headers["Content-Type"] = options.contentType;
      body = options.body as BodyInit;
    } else {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.body);
    }
  }
  return fetch(url(path, options.query), { method, headers, body, signal: options.signal });
}

/** Calls the API; throws ApiError for any answer that is not 2xx. */
export async function api<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  let response = await send(method, path, options);
  if (response.status === 401 && (await refreshSession())) {
    response = await send(method, path, options);
  }
  if (response.status === 401) useSession.getState().expired();
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return undefined as T;
  if (options.text) return (await response.text()) as T;
  return (await response.json()) as T;
}

export const get = <T>(path: string, query?: Query) => api<T>("GET", path, { query });
export const post = <T>(path: string, body?: unknown, query?: Query) =>
  api<T>("POST", path, { body, query });
export const put = <T>(path: string, body?: unknown) => api<T>("PUT", path, { body });
export const patch = <T>(path: string, body?: unknown) => api<T>("PATCH", path, { body });
export const del = <T = void>(path: string) => api<T>("DELETE", path);

export interface StreamEvent {
  event: string;
  id: string | undefined;
  data: unknown;
}

/**
 * Follows a Server-Sent Events stream with the session's credentials (EventSource cannot send
 * an Authorization header). Reconnects after a dropped connection with Last-Event-ID, until the
 * signal aborts or the server sends `end`.
 */
export async function follow(
  path: string,
  onEvent: (event: StreamEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  let lastId: string | undefined;
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      const headers: Record<string, string> = { ...authHeaders(), Accept: "text/event-stream" };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const response = await fetch(path, { headers, signal });
      if (response.status === 401 && (await refreshSession())) continue;
      if (!response.ok || !response.body) throw await errorOf(response);
      const reader = response.body
        .pipeThrough(new TextDecoderStream())
        .pipeThrough(new EventSourceParserStream())
        .getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (value.id) lastId = value.id;
        onEvent({ event: value.event ?? "message", id: value.id, data: JSON.parse(value.data) });
        if (value.event === "end") return;
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status < 500) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** attempt)));
  }
}
