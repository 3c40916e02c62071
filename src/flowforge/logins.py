"""What ``flowforge login`` keeps so the CLI can talk to servers: per server URL, an API key or
a session's tokens, in ``FLOWFORGE_HOME/logins.json`` (mode 0600, written atomically).

``login_auth`` gives the ``httpx.Auth`` a client uses: ``FLOWFORGE_API_KEY`` if set, else the
saved login for that server. A session's access token is refreshed (and the new tokens saved)
when it is about to expire or the server answers 401.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Generator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

__all__ = ["API_KEY_ENV", "Login", "LoginAuth", "Logins", "login_auth"]

API_KEY_ENV = "FLOWFORGE_API_KEY"
FILE_NAME = "logins.json"
_EARLY = timedelta(seconds=30)  # refresh this long before the access token expires


@dataclass
class Login:
    """How to authenticate to one server: an API key, or a session's tokens."""

    api_key: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    access_expires_at: str | None = None  # ISO 8601
    org: str | None = None
    email: str | None = None

    @classmethod
    def of_tokens(cls, answer: dict[str, Any], email: str | None = None) -> Login:
        """The login an answer of ``/api/v1/auth/login`` (or refresh, accept, signature) gives."""
        return cls(
            access_token=answer["accessToken"],
            refresh_token=answer["refreshToken"],
            access_expires_at=answer["accessExpiresAt"],
            org=answer.get("orgId"),
            email=email,
        )

    def expired(self, now: datetime) -> bool:
        if self.access_expires_at is None:
            return False
        return datetime.fromisoformat(self.access_expires_at) - _EARLY <= now


class Logins:
    """The saved logins, by server URL."""

    def __init__(self, home: Path) -> None:
        self.path = home / FILE_NAME

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise OSError(f"{self.path}: cannot read the saved logins: {exc}") from None
        return data if isinstance(data, dict) else {}

    def get(self, server: str) -> Login | None:
        found = self._read().get(_key(server))
        if not isinstance(found, dict):
            return None
        known = Login.__dataclass_fields__
        return Login(**{k: v for k, v in found.items() if k in known})

    def put(self, server: str, login: Login) -> None:
        data = self._read()
        data[_key(server)] = {k: v for k, v in asdict(login).items() if v is not None}
        self._write(data)

    def remove(self, server: str) -> bool:
        data = self._read()
        if data.pop(_key(server), None) is None:
            return False
        self._write(data)
        return True

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".logins-")
        try:
            with os.fdopen(fd, "w") as out:  # mkstemp makes it 0600
                json.dump(data, out, indent=2)
                out.flush()
                os.fsync(out.fileno())
            os.replace(name, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise


def _key(server: str) -> str:
    return server.rstrip("/")


class LoginAuth(httpx.Auth):
    """Sends the login's API key or access token; refreshes a session's tokens when they are
    due or the server says 401, and saves them."""

    def __init__(self, server: str, login: Login, logins: Logins | None) -> None:
        self.server = _key(server)
        self.login = login
        self.logins = logins

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.login.api_key is not None:
            request.headers["Authorization"] = f"Bearer {self.login.api_key}"
            yield request
            return
        if self.login.expired(datetime.now(UTC)):
            yield from self._refresh()
        request.headers["Authorization"] = f"Bearer {self.login.access_token}"
        response = yield request
        if response.status_code == 401 and (yield from self._refresh()):
            request.headers["Authorization"] = f"Bearer {self.login.access_token}"
            yield request

    def _refresh(self) -> Generator[httpx.Request, httpx.Response, bool]:
        if not self.login.refresh_token:
            return False
        answer = yield httpx.Request(
            "POST",
            f"{self.server}/api/v1/auth/refresh",
            json={"refreshToken": self.login.refresh_token},
        )
        answer.read()
        if answer.status_code != 200:
            return False
        self.login = Login.of_tokens(answer.json(), self.login.email)
        if self.logins is not None:
            self.logins.put(self.server, self.login)
        return True


def login_auth(server: str, home: Path) -> httpx.Auth | None:
    """How a client of ``server`` authenticates: ``FLOWFORGE_API_KEY``, else the login saved
    by ``flowforge login``, else not at all."""
    key = os.environ.get(API_KEY_ENV)
    if key:
        return LoginAuth(server, Login(api_key=key.strip()), None)
    logins = Logins(home)
    saved = logins.get(server)
    return None if saved is None else LoginAuth(server, saved, logins)
