"""Small Matrix client-server API helpers for driving a homeserver in tests."""

from __future__ import annotations

import hashlib
import json
import hmac
import itertools
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

from .http import MatrixError, request_json

_txn_counter = itertools.count(1)


def q(s: str) -> str:
    """Percent-encodes one path segment (room IDs, user IDs, event types, state keys)."""
    return urllib.parse.quote(s, safe="")


def register_shared_secret(
    base_url: str, shared_secret: str, localpart: str, password: str, *, admin: bool = False
) -> dict[str, Any]:
    """Registers a user with Synapse's shared-secret admin API; returns ``{user_id, access_token, device_id, ...}``."""
    url = f"{base_url}/_synapse/admin/v1/register"
    nonce = request_json("GET", url)["nonce"]
    mac = hmac.new(shared_secret.encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode(), b"admin" if admin else b"notadmin"]))
    return request_json(
        "POST",
        url,
        {"nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": mac.hexdigest()},
    )


def login(base_url: str, localpart: str, password: str) -> dict[str, Any]:
    """Password login; returns ``{user_id, access_token, device_id, ...}``."""
    return request_json(
        "POST",
        f"{base_url}/_matrix/client/v3/login",
        {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart}, "password": password},
    )


@dataclass
class MatrixClient:
    """A logged-in user on one homeserver's client API."""

    base_url: str
    user_id: str
    access_token: str
    device_id: str | None = None
    _filter: dict[str, Any] = field(default_factory=dict)

    # -- plumbing -------------------------------------------------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None, *, params: dict[str, Any] | None = None,
             timeout: float = 30.0) -> Any:
        url = f"{self.base_url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        return request_json(method, url, body, token=self.access_token, timeout=timeout)

    # -- rooms ----------------------------------------------------------------------------------------------------
    def create_room(
        self,
        *,
        room_version: str = "12",
        public: bool = True,
        publish: bool = False,
        name: str | None = None,
        initial_state: list[dict[str, Any]] | None = None,
        power_level_content_override: dict[str, Any] | None = None,
        invite: list[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """Creates a room (default: version 12, ``public_chat`` preset, not in the directory); returns its ID."""
        body: dict[str, Any] = {
            "room_version": room_version,
            "preset": "public_chat" if public else "private_chat",
            "visibility": "public" if publish else "private",
        }
        if name is not None:
            body["name"] = name
        if initial_state:
            body["initial_state"] = initial_state
        if power_level_content_override:
            body["power_level_content_override"] = power_level_content_override
        if invite:
            body["invite"] = invite
        body.update(extra or {})
        return self.call("POST", "/_matrix/client/v3/createRoom", body)["room_id"]

    def join(self, room_id_or_alias: str, via: list[str] | None = None, *, timeout: float = 60.0) -> str:
        """Joins a room (over federation if needed: pass ``via`` for v12 room IDs, which name no server)."""
        params = {"via": via, "server_name": via} if via else None
        return self.call("POST", f"/_matrix/client/v3/join/{q(room_id_or_alias)}", {}, params=params,
                         timeout=timeout)["room_id"]

    def leave(self, room_id: str) -> None:
        self.call("POST", f"/_matrix/client/v3/rooms/{q(room_id)}/leave", {})

    def invite(self, room_id: str, user_id: str) -> None:
        self.call("POST", f"/_matrix/client/v3/rooms/{q(room_id)}/invite", {"user_id": user_id})

    def send_event(self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str | None = None) -> str:
        """``PUT /rooms/{id}/send/{type}/{txn}``; returns the event ID (raises MatrixError with status on refusal)."""
        txn = txn_id or f"palisade-{time.time_ns()}-{next(_txn_counter)}"
        return self.call("PUT", f"/_matrix/client/v3/rooms/{q(room_id)}/send/{q(event_type)}/{q(txn)}",
                         content)["event_id"]

    def send_message(self, room_id: str, body: str, msgtype: str = "m.text") -> str:
        return self.send_event(room_id, "m.room.message", {"msgtype": msgtype, "body": body})

    def set_state(self, room_id: str, event_type: str, content: dict[str, Any], state_key: str = "") -> str:
        return self.call("PUT", f"/_matrix/client/v3/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}",
                         content)["event_id"]

    def get_state_event(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any]:
        """The content of one current state event (MatrixError 404 if absent)."""
        return self.call("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}")

    def room_state(self, room_id: str) -> list[dict[str, Any]]:
        """All current state events of the room."""
        return self.call("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/state")

    def membership(self, room_id: str, user_id: str) -> str | None:
        try:
            return self.get_state_event(room_id, "m.room.member", user_id).get("membership")
        except MatrixError as e:
            if e.status == 404:
                return None
            raise

    def messages(self, room_id: str, *, limit: int = 50, direction: str = "b", from_token: str | None = None,
                 filter: dict[str, Any] | None = None) -> dict[str, Any]:
        """``GET /rooms/{id}/messages`` (newest first by default); returns the whole answer (``chunk``, ``end``...)."""
        params: dict[str, Any] = {"dir": direction, "limit": limit}
        if from_token:
            params["from"] = from_token
        if filter:
            params["filter"] = json.dumps(filter)
        return self.call("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/messages", params=params)

    def get_event(self, room_id: str, event_id: str) -> dict[str, Any]:
        return self.call("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/event/{q(event_id)}")

    def wait_for_event(
        self,
        room_id: str,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        timeout: float = 10.0,
        interval: float = 0.2,
        limit: int = 50,
    ) -> dict[str, Any]:
        """Polls ``/messages`` until an event matching ``predicate`` shows up; raises TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        last: list[dict[str, Any]] = []
        while True:
            try:
                last = self.messages(room_id, limit=limit)["chunk"]
            except MatrixError as e:
                # 403 until our server sees us joined (e.g. a federated join still settling).
                if e.status != 403:
                    raise
            for ev in last:
                if predicate(ev):
                    return ev
            if time.monotonic() >= deadline:
                seen = [(e.get("type"), e.get("sender"), e.get("content", {}).get("body")) for e in last[:10]]
                raise TimeoutError(f"no matching event in {room_id} after {timeout}s; newest seen: {seen}")
            time.sleep(interval)

    def set_account_data(self, event_type: str, content: dict[str, Any]) -> None:
        self.call("PUT", f"/_matrix/client/v3/user/{q(self.user_id)}/account_data/{q(event_type)}", content)

    def whoami(self) -> dict[str, Any]:
        return self.call("GET", "/_matrix/client/v3/account/whoami")
