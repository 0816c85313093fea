"""One real Synapse homeserver on loopback, for federation and policy-server (MSC4284) tests.

Naming scheme (see README.md and shared/reference/synapse-interop.md §3):

* server name ``localhost:<fed_port>``: an explicit port means no SRV and no ``.well-known`` lookup, and
  ``localhost`` resolves from /etc/hosts. Synapse connects to ``https://localhost:<fed_port>`` with SNI
  ``localhost`` and checks the certificate against ``federation_custom_ca_list`` (our test CA only).
* federation listener: TLS on ``127.0.0.1:<fed_port>`` with a leaf from :mod:`harness.pki`.
* client listener: plain HTTP on ``127.0.0.1:<client_port>``.
* loopback is the only range Synapse may reach: ``ip_range_blacklist`` and ``federation_ip_range_blacklist``
  are the complement of 127.0.0.0/8 and ::1/128.

Processes: each Synapse runs in its own session (process group), its stdout/stderr go to ``stdout.log`` and its
logging to ``homeserver.log`` in its directory. :meth:`Synapse.stop` sends SIGTERM to the group, then SIGKILL.
Every started instance is also stopped at interpreter exit (atexit), and on Linux the child gets SIGTERM if the
*thread* that started it dies (PR_SET_PDEATHSIG): start servers from the test's main thread, not from a worker
thread that exits early.
"""

from __future__ import annotations

import atexit
from base64 import b64decode, b64encode
import ctypes
import ipaddress
import json
import os
import secrets
import signal
import string
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .client import MatrixClient, login, register_shared_secret
from .http import MatrixError, ca_context, free_port, request_json
from .pki import LocalCA

SYNAPSE_VERSION = "1.163.2"

_LIVE: set["Synapse"] = set()
_LIVE_LOCK = threading.Lock()


def _stop_all_at_exit() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for hs in live:
        try:
            hs.stop()
        except Exception as e:  # noqa: BLE001 - best effort at exit
            print(f"harness: failed to stop {hs.name}: {e}", file=sys.stderr)


atexit.register(_stop_all_at_exit)


def synapse_python() -> str:
    """The interpreter that has Synapse installed.

    ``PALISADE_SYNAPSE_PYTHON`` wins; else this interpreter if it can import synapse; else the cached venv made by
    ``tests/interop/setup-synapse``.
    """
    explicit = os.environ.get("PALISADE_SYNAPSE_PYTHON")
    if explicit:
        return explicit
    try:
        import synapse  # noqa: F401

        return sys.executable
    except ImportError:
        pass
    cache = Path(os.environ.get("PALISADE_CACHE", Path.home() / ".cache" / "palisade"))
    py = cache / "synapse-venv" / "bin" / "python"
    if not py.exists():
        raise RuntimeError(f"no Synapse venv at {py}: run tests/interop/setup-synapse first")
    return str(py)


def loopback_only_blocklist() -> list[str]:
    """Every IPv4/IPv6 range except 127.0.0.0/8 and ::1/128, as CIDR strings."""
    out: list[str] = []
    for whole, keep in (("0.0.0.0/0", "127.0.0.0/8"), ("::/0", "::1/128")):
        nets = ipaddress.ip_network(whole).address_exclude(ipaddress.ip_network(keep))
        out.extend(str(n) for n in sorted(nets))
    return out


def _relaxed(per_second: float = 1000.0, burst_count: int = 10000) -> dict[str, Any]:
    return {"per_second": per_second, "burst_count": burst_count}


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_merge(base[k], v)
        else:
            base[k] = v
    return base


def _die_with_parent(parent_pid: int) -> None:
    """preexec_fn: SIGTERM this child when the starting thread dies (Linux only; no-op elsewhere)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        return
    if os.getppid() != parent_pid:  # parent already gone before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


class SynapseStartError(RuntimeError):
    pass


class Synapse:
    """A Synapse homeserver in ``<workdir>/<name>``.

    ``hs = Synapse("hs1", run_dir, ca=LocalCA(run_dir / "pki")); hs.start()`` or use it as a context manager.
    ``extra_config`` is deep-merged over the generated homeserver config (e.g. ``{"presence": {"enabled": True}}``).
    """

    def __init__(
        self,
        name: str,
        workdir: os.PathLike[str] | str,
        *,
        ca: LocalCA,
        fed_port: int | None = None,
        client_port: int | None = None,
        extra_config: dict[str, Any] | None = None,
        log_level: str | None = None,
        python: str | None = None,
    ):
        self.name = name
        self.dir = Path(workdir).resolve() / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = ca
        self.fed_port = fed_port or free_port()
        self.client_port = client_port or free_port()
        while self.client_port == self.fed_port:
            self.client_port = free_port()
        self.server_name = f"localhost:{self.fed_port}"
        self.client_url = f"http://127.0.0.1:{self.client_port}"
        self.federation_url = f"https://localhost:{self.fed_port}"
        self.config_path = self.dir / "homeserver.yaml"
        self.log_config_path = self.dir / "log.config"
        self.log_file = self.dir / "homeserver.log"
        self.stdout_file = self.dir / "stdout.log"
        self.signing_key_path = self.dir / "signing.key"
        self.pid_path = self.dir / "homeserver.pid"
        self.shared_secret = secrets.token_hex(16)
        self.extra_config = extra_config or {}
        self.log_level = (log_level or os.environ.get("PALISADE_INTEROP_LOG_LEVEL") or "INFO").upper()
        self.python = python or synapse_python()
        self.leaf = ca.leaf(name)
        self.proc: subprocess.Popen[bytes] | None = None
        self._stdout_handle: Any = None
        self.signing_key_id, self.verify_key_base64 = self._generate_signing_key()
        self._write_config()

    def __repr__(self) -> str:
        return f"Synapse({self.name!r}, server_name={self.server_name!r}, client_url={self.client_url!r})"

    # -- config ---------------------------------------------------------------------------------------------------
    def _generate_signing_key(self) -> tuple[str, str]:
        """Writes (once) ``signing.key`` in Synapse's format; returns (key ID, unpadded base64 verify key)."""
        if not self.signing_key_path.exists():
            alphabet = string.ascii_letters + string.digits
            version = "a_" + "".join(secrets.choice(alphabet) for _ in range(4))
            seed = os.urandom(32)
            self.signing_key_path.write_text(f"ed25519 {version} {b64encode(seed).decode().rstrip('=')}\n")
            os.chmod(self.signing_key_path, 0o600)
        algo, version, seed_b64 = self.signing_key_path.read_text().split()
        verify_key = ""
        try:  # the verify key is handy for tests that check X-Matrix; needs PyNaCl (present in the venv)
            import nacl.signing

            seed = b64decode(seed_b64 + "=" * (-len(seed_b64) % 4))
            verify_key = b64encode(bytes(nacl.signing.SigningKey(seed).verify_key)).decode().rstrip("=")
        except ImportError:
            pass
        return f"{algo}:{version}", verify_key

    def config(self) -> dict[str, Any]:
        """The homeserver config (before ``extra_config``), as a dict."""
        blocklist = loopback_only_blocklist()
        rc = _relaxed()
        return {
            "server_name": self.server_name,
            "public_baseurl": f"{self.client_url}/",
            "pid_file": str(self.pid_path),
            "report_stats": False,
            "listeners": [
                {
                    "port": self.fed_port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": True,
                    "x_forwarded": False,
                    "resources": [{"names": ["federation"], "compress": False}],
                },
                {
                    "port": self.client_port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                },
            ],
            "tls_certificate_path": str(self.leaf.cert),
            "tls_private_key_path": str(self.leaf.key),
            # Outbound federation trusts only the test CA (this replaces the system roots).
            "federation_custom_ca_list": [str(self.ca.cert)],
            # Loopback is the only place Synapse may connect to; everything else stays blocked.
            "ip_range_blacklist": blocklist,
            "federation_ip_range_blacklist": blocklist,
            "ip_range_whitelist": ["127.0.0.0/8", "::1/128"],
            "database": {"name": "sqlite3", "args": {"database": str(self.dir / "homeserver.db")}},
            "log_config": str(self.log_config_path),
            "media_store_path": str(self.dir / "media_store"),
            "signing_key_path": str(self.signing_key_path),
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "registration_shared_secret": self.shared_secret,
            "enable_registration": False,
            "macaroon_secret_key": secrets.token_hex(32),
            "form_secret": secrets.token_hex(32),
            "url_preview_enabled": False,
            "enable_metrics": False,
            "presence": {"enabled": False},
            "default_room_version": "12",
            "room_list_publication_rules": [{"action": "allow"}],
            "allow_public_rooms_over_federation": True,
            # MSC4284 needs no flag in Synapse >= 1.151: a room's m.room.policy state turns it on.
            "experimental_features": {},
            # Retry a failed destination after 1 s (default 10 min), so a restarted peer gets /send again soon.
            "federation": {
                "destination_min_retry_interval": "1s",
                "destination_retry_multiplier": 2,
                "destination_max_retry_interval": "10s",
                "max_short_retry_delay": 500,  # ms
                "max_long_retry_delay": "5s",
            },
            # Scripted tests are fast; rate limits must not get in the way.
            "rc_message": rc,
            "rc_registration": rc,
            "rc_login": {"address": rc, "account": rc, "failed_attempts": rc},
            "rc_admin_redaction": rc,
            "rc_joins": {"local": rc, "remote": rc},
            "rc_joins_per_room": rc,
            "rc_key_requests": rc,
            "rc_3pid_validation": rc,
            "rc_invites": {"per_room": rc, "per_user": rc, "per_issuer": rc},
            "rc_third_party_invite": rc,
            "rc_media_create": rc,
            "rc_presence": {"per_user": rc},
            "rc_delayed_event_mgmt": rc,
            "rc_room_creation": rc,
            "rc_reports": rc,
            "rc_user_directory": rc,
            "rc_profile": rc,
            "rc_federation": {
                "window_size": 1000,
                "sleep_limit": 10000,
                "sleep_delay": 1,
                "reject_limit": 100000,
                "concurrent": 100,
            },
        }

    def _write_config(self) -> None:
        cfg = _deep_merge(self.config(), json.loads(json.dumps(self.extra_config)))
        # JSON is valid YAML, and needs no YAML library in the driving interpreter.
        self.config_path.write_text(json.dumps(cfg, indent=2) + "\n")
        log_cfg = {
            "version": 1,
            "formatters": {
                "precise": {
                    "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"
                }
            },
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(self.log_file),
                    "encoding": "utf8",
                }
            },
            # DEBUG on synapse.storage.SQL would log access tokens and floods the file.
            "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
            "root": {"level": self.log_level, "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        self.log_config_path.write_text(json.dumps(log_cfg, indent=2) + "\n")

    # -- process --------------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, *, wait: bool = True, timeout: float = 120.0) -> "Synapse":
        """Starts Synapse (non-blocking if ``wait=False``; then call :meth:`wait_healthy`)."""
        if self.running:
            return self
        self._stdout_handle = open(self.stdout_file, "ab")
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
        parent = os.getpid()
        self.proc = subprocess.Popen(
            [self.python, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            cwd=self.dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: _die_with_parent(parent),
        )
        with _LIVE_LOCK:
            _LIVE.add(self)
        if wait:
            self.wait_healthy(timeout=timeout)
        return self

    def wait_healthy(self, timeout: float = 120.0) -> None:
        """Waits until the client API answers ``/health`` and the TLS federation listener serves our key."""
        deadline = time.monotonic() + timeout
        tls = ca_context(str(self.ca.cert))
        client_ok = False
        last_err: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise SynapseStartError(f"{self.name} exited with {code} during startup\n{self.log_tail()}")
            try:
                if not client_ok:
                    client_ok = request_json("GET", f"{self.client_url}/health", timeout=2) == "OK"
                if client_ok:
                    keys = request_json("GET", f"{self.federation_url}/_matrix/key/v2/server", timeout=2,
                                        ssl_context=tls)
                    if keys.get("server_name") == self.server_name:
                        return
            except (OSError, MatrixError, ValueError) as e:
                last_err = e
            time.sleep(0.2)
        raise SynapseStartError(f"{self.name} not healthy after {timeout}s (last error: {last_err})\n"
                                f"{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to Synapse's process group, SIGKILL after ``timeout``; always reaps the process."""
        proc = self.proc
        if proc is not None:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    proc.wait(timeout=10)
        if self._stdout_handle is not None:
            self._stdout_handle.close()
            self._stdout_handle = None
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def restart(self, timeout: float = 120.0) -> None:
        self.stop()
        self.start(timeout=timeout)

    def __enter__(self) -> "Synapse":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- logs -----------------------------------------------------------------------------------------------------
    def log_tail(self, lines: int = 60) -> str:
        """The last lines of stdout/stderr and of homeserver.log, for failure reports."""
        parts = []
        for path in (self.stdout_file, self.log_file):
            try:
                text = path.read_text(errors="replace").splitlines()
            except FileNotFoundError:
                continue
            if text:
                parts.append(f"----- {self.name}: tail of {path} -----\n" + "\n".join(text[-lines:]))
        return "\n".join(parts) or f"----- {self.name}: no logs yet in {self.dir} -----"

    # -- users ----------------------------------------------------------------------------------------------------
    def register_user(self, localpart: str, password: str | None = None, *, admin: bool = False) -> MatrixClient:
        """Registers ``@localpart:server_name`` via the shared-secret admin API; returns a logged-in client."""
        password = password or secrets.token_hex(8)
        r = register_shared_secret(self.client_url, self.shared_secret, localpart, password, admin=admin)
        return MatrixClient(self.client_url, r["user_id"], r["access_token"], r.get("device_id"))

    def login(self, localpart: str, password: str) -> MatrixClient:
        r = login(self.client_url, localpart, password)
        return MatrixClient(self.client_url, r["user_id"], r["access_token"], r.get("device_id"))

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self.server_name}"

    def describe(self) -> dict[str, Any]:
        """Everything a non-Python driver needs about this server (JSON-serialisable)."""
        return {
            "name": self.name,
            "server_name": self.server_name,
            "client_url": self.client_url,
            "federation_url": self.federation_url,
            "fed_port": self.fed_port,
            "client_port": self.client_port,
            "signing_key_id": self.signing_key_id,
            "verify_key": self.verify_key_base64,
            "registration_shared_secret": self.shared_secret,
            "dir": str(self.dir),
            "config": str(self.config_path),
            "log_file": str(self.log_file),
            "stdout_file": str(self.stdout_file),
            "pid": self.proc.pid if self.proc else None,
        }
