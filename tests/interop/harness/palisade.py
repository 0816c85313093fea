"""Palisade as a third server of the test bed: built with cargo, configured for loopback, started and stopped.

    pal = Palisade(testbed, join_server=hs1.server_name, join_room_ids=[room_id]).start()
    pal.room_state(room_id)     # `palisade room state` as JSON (read-only, while the server runs)
    pal.stop()

The binary is ``PALISADE_BIN`` if set, else ``cargo build --bin palisade`` is run once per test session
(``CARGO_TARGET_DIR`` respected) and ``<target>/debug/palisade`` used.

Processes: Palisade runs in its own session; :meth:`Palisade.stop` sends SIGTERM, then SIGKILL. Like the Synapses,
every started instance is stopped at interpreter exit and gets SIGTERM if the starting thread dies
(PR_SET_PDEATHSIG), so a crashed test run leaves nothing behind.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from .http import MatrixError, ca_context, free_port, request_json
from .synapse import _die_with_parent

_LIVE: set["Palisade"] = set()
_LIVE_LOCK = threading.Lock()


def _stop_all_at_exit() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for pal in live:
        try:
            pal.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(_stop_all_at_exit)

REPO = Path(__file__).resolve().parents[3]
_BUILT: Path | None = None


def palisade_binary() -> Path:
    """The palisade binary to run; builds it (once per process) unless ``PALISADE_BIN`` names one."""
    global _BUILT
    explicit = os.environ.get("PALISADE_BIN")
    if explicit:
        return Path(explicit)
    if _BUILT is None:
        subprocess.run(["cargo", "build", "--quiet", "--bin", "palisade"], cwd=REPO, check=True)
        target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
        _BUILT = target / "debug" / "palisade"
    return _BUILT


def _toml_value(value: Any) -> str:
    return json.dumps(value)  # strings, booleans, numbers and lists of them are the same in TOML


class Palisade:
    """One Palisade process in ``<run_dir>/palisade`` with the test bed's reserved port and certificate."""

    def __init__(self, testbed: Any, *, join_server: str, join_room_ids: list[str] | None = None,
                 accept_invites: str = "never", extra: dict[str, dict[str, Any]] | None = None,
                 label: str = "palisade", api_key: str | None = None, database_url: str | None = None,
                 server_name: str | None = None, keys_dir: Path | None = None):
        """``label`` names the reserved port/certificate and the directory; ``server_name`` overrides the name
        (e.g. a proxy's ``localhost:<port>`` in front of several instances sharing ``keys_dir`` and
        ``database_url``); ``api_key`` turns the admin API on."""
        self.testbed = testbed
        self.reserved = testbed.reserve(label)
        self.server_name = server_name or self.reserved.server_name
        self.label = label
        self.api_key = api_key
        self.dir = testbed.dir / label
        self.dir.mkdir(parents=True, exist_ok=True)
        keys_dir = keys_dir or self.dir
        self.config_file = self.dir / "palisade.toml"
        self.log_file = self.dir / "palisade.log"
        self.user_id = f"@policyserv:{self.server_name}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = free_port()
        sections: dict[str, dict[str, Any]] = {
            "listen": {
                "http": f"127.0.0.1:{self.reserved.port}",
                "metrics": f"127.0.0.1:{self.metrics_port}",
                "tls_certificate": str(self.reserved.chain),
                "tls_private_key": str(self.reserved.key),
            },
            "keys": {"federation": str(keys_dir / "signing.key"), "policy": str(keys_dir / "policy.key")},
            "database": {"url": database_url or f"sqlite://{self.dir / 'palisade.db'}"},
            "federation": {
                "key_query_server": "",
                "direct_key_fetching": True,
                # Loopback only: the SSRF guard's allow list is the test bed, and nothing else is reachable.
                "allowed_networks": ["127.0.0.0/8", "::1/128"],
                "denied_networks": [],
                "join_server": join_server,
                "accept_invites": accept_invites,
                "extra_ca_files": [str(testbed.ca.cert)],
            },
        }
        if api_key:
            sections["api"] = {"key": api_key}
        self.keys_dir = keys_dir
        for section, values in (extra or {}).items():
            sections.setdefault(section, {}).update(values)
        lines = [f"server_name = {_toml_value(self.server_name)}",
                 f"join_room_ids = {_toml_value(join_room_ids or [])}"]
        for section, values in sections.items():
            lines.append(f"\n[{section}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items())
        self.config_file.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"https://localhost:{self.reserved.port}"

    def start(self, timeout: float = 60.0) -> "Palisade":
        binary = palisade_binary()
        env = dict(os.environ, RUST_LOG=os.environ.get("PALISADE_LOG", "info,palisade=debug"), NO_COLOR="1")
        log = self.log_file.open("ab")
        parent = os.getpid()
        self.proc = subprocess.Popen([str(binary), "serve", "--config", str(self.config_file)], cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True, preexec_fn=lambda: _die_with_parent(parent))
        log.close()
        with _LIVE_LOCK:
            _LIVE.add(self)
        ctx = ca_context(str(self.testbed.ca.cert))
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"palisade exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                request_json("GET", f"{self.url}/_matrix/federation/v1/version", ssl_context=ctx)
                return self
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"palisade not healthy after {timeout}s:\n{self.log_tail()}") from None
                time.sleep(0.2)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    # -- HTTP APIs ------------------------------------------------------------------------------------------------
    def tls(self):
        return ca_context(str(self.testbed.ca.cert))

    def admin(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """The admin API (``/api/v1`` + ``path``) with our API key; raises MatrixError on non-2xx."""
        import urllib.parse

        url = f"{self.url}/api/v1{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        return request_json(method, url, body, token=self.api_key, ssl_context=self.tls())

    def well_known(self, unstable: bool = False) -> dict[str, Any]:
        """``/.well-known/matrix/policy_server`` (or the unstable ``org.matrix.msc4284.policy_server``)."""
        name = "org.matrix.msc4284.policy_server" if unstable else "policy_server"
        return request_json("GET", f"{self.url}/.well-known/matrix/{name}", ssl_context=self.tls())

    def sign_as(self, hs: Any, pdu: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """``POST /_matrix/policy/v1/sign`` as homeserver ``hs`` (X-Matrix with its signing key), straight to this
        instance; returns (HTTP status, JSON body) whether it signed or refused."""
        path = "/_matrix/policy/v1/sign"
        auth = x_matrix(hs, self.server_name, "POST", path, pdu)
        try:
            return 200, request_json("POST", f"{self.url}{path}", pdu, headers={"Authorization": auth},
                                     ssl_context=self.tls())
        except MatrixError as e:
            return e.status, e.json or {"raw": e.body}

    def cli(self, *args: str) -> Any:
        """Runs ``palisade <args> --config <ours>`` and parses its JSON output."""
        out = subprocess.run([str(palisade_binary()), *args, "--config", str(self.config_file)], cwd=self.dir,
                             check=True, capture_output=True)
        return json.loads(out.stdout)

    def room_state(self, room_id: str) -> dict[str, Any] | None:
        """The stored snapshot of ``room_id`` (``palisade room state``), or None while the room is not stored."""
        try:
            return self.cli("room", "state", room_id)
        except subprocess.CalledProcessError as e:
            if b"not in the store" in e.stderr:
                return None
            raise

    def sign_requests(self) -> int:
        """``/sign`` requests received so far (stable, unstable and legacy paths), from ``/metrics``."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        total = 0
        for line in text.splitlines():
            if line.startswith("policyserv_http_requests{") and "sign" in line.split("}")[0]:
                total += int(float(line.rsplit(" ", 1)[1]))
        return total

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 80) -> str:
        text = self.log_text().splitlines()
        return f"----- palisade: tail of {self.log_file} -----\n" + "\n".join(text[-lines:])

    def __enter__(self) -> "Palisade":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def x_matrix(hs: Any, destination: str, method: str, path: str, content: Any = None) -> str:
    """An X-Matrix ``Authorization`` header for a request from Synapse ``hs`` (signed with its key file)."""
    import signedjson.key
    import signedjson.sign

    with hs.signing_key_path.open() as f:
        key = signedjson.key.read_signing_keys(f)[0]
    request: dict[str, Any] = {"method": method, "uri": path, "origin": hs.server_name, "destination": destination}
    if content is not None:
        request["content"] = content
    sig = signedjson.sign.sign_json(request, hs.server_name, key)["signatures"][hs.server_name][
        f"ed25519:{key.version}"]
    return (f'X-Matrix origin="{hs.server_name}",destination="{destination}",'
            f'key="ed25519:{key.version}",sig="{sig}"')


def federation_get(pal: Palisade, destination_url: str, destination: str, path: str) -> Any:
    """``GET path`` on another server's federation API, X-Matrix-signed with Palisade's own federation key (the
    Synapse venv's ``signedjson``), e.g. to read a PDU as Palisade, a room member, sees it."""
    import signedjson.key
    import signedjson.sign

    with (pal.keys_dir / "signing.key").open() as f:
        key = signedjson.key.read_signing_keys(f)[0]
    request = {"method": "GET", "uri": path, "origin": pal.server_name, "destination": destination}
    signed = signedjson.sign.sign_json(request, pal.server_name, key)
    sig = signed["signatures"][pal.server_name][f"ed25519:{key.version}"]
    auth = (f'X-Matrix origin="{pal.server_name}",destination="{destination}",'
            f'key="ed25519:{key.version}",sig="{sig}"')
    return request_json("GET", f"{destination_url}{path}", headers={"Authorization": auth},
                        ssl_context=ca_context(str(pal.testbed.ca.cert)))
