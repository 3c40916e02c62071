"""A synchronous client for a running server's REST API, used by the CLI's ``--server`` mode.

It speaks the API's JSON (camelCase) and turns its one error shape into :class:`ServerError`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from httpx_sse import SSEError, connect_sse

from flowforge import __version__
from flowforge.errors import FlowForgeError

__all__ = ["Client", "ServerError", "ServerUnreachable"]

_PAGE = 200  # the API's largest page
_RECONNECTS = 5


class ServerUnreachable(FlowForgeError):
    """No answer from the server (refused, timed out, cut off)."""


class ServerError(FlowForgeError):
    """The server answered with an error: its status, code, message and the fields at fault."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, str]] | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.request_id = request_id
        super().__init__(f"{status} {code}: {message}")

    @classmethod
    def of(cls, response: httpx.Response) -> ServerError:
        try:
            body = response.json()["error"]
            return cls(
                response.status_code,
                str(body["code"]),
                str(body["message"]),
                [d for d in body.get("details") or [] if isinstance(d, dict)],
                body.get("requestId"),
            )
        except (ValueError, KeyError, TypeError):
            text = response.text[:200] or response.reason_phrase
            return cls(response.status_code, "HTTP_ERROR", text)


class Client:
    """The API of the server at ``base_url`` (``http://127.0.0.1:8989``)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ServerUnreachable(
                f"--server: {base_url!r} is not an http(s) URL such as http://127.0.0.1:8989"
            )
        self.base_url = str(url).rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout_s,
            transport=transport,
            auth=auth,
            headers={"User-Agent": f"flowforge-cli/{__version__}"},
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"cannot reach {self.base_url}: {exc}") from None
        if response.is_error:
            raise ServerError.of(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServerError(
                response.status_code, "BAD_RESPONSE", "the server's answer is not JSON"
            ) from None

    # --- signing in ------------------------------------------------------------------

    def login(self, email: str, password: str, org: str | None = None) -> dict[str, Any]:
        """A session's tokens for an e-mail address and password."""
        body = {"email": email, "password": password, "org": org}
        result: dict[str, Any] = self._call("POST", "/api/v1/auth/login", json=body)
        return result

    def accept(
        self, token: str, password: str, email: str | None = None, name: str | None = None
    ) -> dict[str, Any]:
        """Use an invite or the setup token: choose a password; a session's tokens."""
        body = {"token": token, "password": password, "email": email, "name": name}
        result: dict[str, Any] = self._call("POST", "/api/v1/auth/accept", json=body)
        return result

    def challenge(self, account: str) -> dict[str, Any]:
        """A sign-in challenge for a key or an Ethereum address."""
        result: dict[str, Any] = self._call(
            "POST", "/api/v1/auth/challenge", json={"account": account}
        )
        return result

    def signature_login(
        self, account: str, message: str, signature: str, org: str | None = None
    ) -> dict[str, Any]:
        """A session's tokens for a signed challenge."""
        body = {"account": account, "message": message, "signature": signature, "org": org}
        result: dict[str, Any] = self._call("POST", "/api/v1/auth/signature", json=body)
        return result

    def logout(self, refresh_token: str) -> None:
        self._call("POST", "/api/v1/auth/logout", json={"refreshToken": refresh_token})

    def me(self) -> dict[str, Any]:
        """Who the client is signed in as."""
        result: dict[str, Any] = self._call("GET", "/api/v1/auth/me")
        return result

    # --- workflows ---------------------------------------------------------------------

    def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        """A stored workflow (by id or name) with its current definition."""
        result: dict[str, Any] = self._call("GET", f"/api/v1/workflows/{_segment(workflow_id)}")
        return result

    # --- executions --------------------------------------------------------------------

    def start(
        self,
        *,
        workflow_id: str | None = None,
        workflow: dict[str, Any] | None = None,
        input: Any = None,
    ) -> dict[str, Any]:
        """Start a stored workflow or an inline definition; the run as the server sees it."""
        body: dict[str, Any] = {"input": input}
        if workflow_id is not None:
            body["workflowId"] = workflow_id
        if workflow is not None:
            body["workflow"] = workflow
        result: dict[str, Any] = self._call("POST", "/api/v1/executions", json=body)
        return result

    def list_executions(
        self,
        *,
        status: str | None = None,
        workflow_id: str | None = None,
        workflow_name: str | None = None,
        limit: int = 20,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` runs, newest first, following the API's cursors."""
        params: dict[str, Any] = {}
        if status is not None:
            params["status"] = status
        if workflow_id is not None:
            params["workflowId"] = workflow_id
        if workflow_name is not None:
            params["workflowName"] = workflow_name
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            params["limit"] = min(_PAGE, limit - len(items))
            page = self._call("GET", "/api/v1/executions", params=params)
            items.extend(page["items"])
            if not page.get("nextCursor"):
                break
            params["cursor"] = page["nextCursor"]
        return items

    def get_execution(self, execution_id: str, *, frames: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "GET",
            f"/api/v1/executions/{_segment(execution_id)}",
            params={"frames": "true" if frames else "false"},
        )
        return result

    def cancel(self, execution_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/api/v1/executions/{_segment(execution_id)}/cancel"
        )
        return result

    def retry(self, execution_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/api/v1/executions/{_segment(execution_id)}/retry"
        )
        return result

    def rerun(self, execution_id: str, node: str, *input: Any) -> dict[str, Any]:
        """Re-run from ``node``; a second argument replaces the input that node receives."""
        body: dict[str, Any] = {"node": node}
        if input:
            body["input"] = input[0]
        result: dict[str, Any] = self._call(
            "POST", f"/api/v1/executions/{_segment(execution_id)}/rerun", json=body
        )
        return result

    def delete(self, execution_id: str) -> None:
        self._call("DELETE", f"/api/v1/executions/{_segment(execution_id)}")

    def follow(self, execution_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The run's live stream: ``("frame", frame)`` for each journal frame in order, then
        ``("end", run)``. A dropped connection is resumed after the last frame seen."""
        path = f"/api/v1/executions/{_segment(execution_id)}/stream"
        last_seq = 0
        failures = 0
        while True:
            headers = {"Last-Event-ID": str(last_seq)} if last_seq else {}
            try:
                with connect_sse(
                    self._http, "GET", path, headers=headers, timeout=httpx.Timeout(10, read=None)
                ) as source:
                    if source.response.is_error:
                        source.response.read()
                        raise ServerError.of(source.response)
                    for event in source.iter_sse():
                        failures = 0
                        data = event.json()
                        if event.event == "frame":
                            last_seq = int(data["seq"])
                            yield "frame", data
                        elif event.event == "end":
                            yield "end", data
                            return
            except (httpx.TransportError, SSEError) as exc:
                failures += 1
                if failures > _RECONNECTS:
                    raise ServerUnreachable(
                        f"lost the stream of {execution_id} from {self.base_url}: {exc}"
                    ) from None
                time.sleep(min(0.25 * 2**failures, 4.0))
                continue
            # the server closed the stream without an end event: ask again from where we are
            failures += 1
            if failures > _RECONNECTS:
                raise ServerUnreachable(f"the stream of {execution_id} ended before the run did")


def _segment(value: str) -> str:
    """``value`` as one URL path segment (so ``../x`` cannot walk the API's paths)."""
    return quote(value, safe="")
