"""Palisade as a third server of the test bed: built with cargo, configured for loopback, started and stopped.

    pal = Palisade(testbed, join_server=hs1.server_name, join_room_ids=[room_id]).start()
    pal.room_state(room_id)     # `palisade room state` as JSON (read-only, while the server runs)
    pal.stop()

The binary is ``PALISADE_BIN`` if set, else ``cargo build --bin palisade`` is run once per test session
(``CARGO_TARGET_DIR`` respected) and ``<target>/debug/palisade`` used.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from .http import ca_context, free_port, request_json

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
                 accept_invites: str = "never", extra: dict[str, dict[str, Any]] | None = None):
        self.testbed = testbed
        self.reserved = testbed.reserve("palisade")
        self.server_name = self.reserved.server_name
        self.dir = testbed.dir / "palisade"
        self.dir.mkdir(parents=True, exist_ok=True)
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
            "keys": {"federation": str(self.dir / "signing.key"), "policy": str(self.dir / "policy.key")},
            "database": {"url": f"sqlite://{self.dir / 'palisade.db'}"},
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
        env = dict(os.environ, RUST_LOG=os.environ.get("PALISADE_LOG", "info,palisade=debug"))
        log = self.log_file.open("ab")
        self.proc = subprocess.Popen([str(binary), "serve", "--config", str(self.config_file)], cwd=self.dir,
                                     stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
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

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

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


def federation_get(pal: Palisade, destination_url: str, destination: str, path: str) -> Any:
    """``GET path`` on another server's federation API, X-Matrix-signed with Palisade's own federation key (the
    Synapse venv's ``signedjson``), e.g. to read a PDU as Palisade, a room member, sees it."""
    import signedjson.key
    import signedjson.sign

    with (pal.dir / "signing.key").open() as f:
        key = signedjson.key.read_signing_keys(f)[0]
    request = {"method": "GET", "uri": path, "origin": pal.server_name, "destination": destination}
    signed = signedjson.sign.sign_json(request, pal.server_name, key)
    sig = signed["signatures"][pal.server_name][f"ed25519:{key.version}"]
    auth = (f'X-Matrix origin="{pal.server_name}",destination="{destination}",'
            f'key="ed25519:{key.version}",sig="{sig}"')
    return request_json("GET", f"{destination_url}{path}", headers={"Authorization": auth},
                        ssl_context=ca_context(str(pal.testbed.ca.cert)))
