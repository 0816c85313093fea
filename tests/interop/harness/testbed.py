"""A per-run test bed: one temp directory, one local CA, any number of Synapses, and room for a Palisade.

    with Testbed() as tb:
        hs1, hs2 = tb.start_synapses("hs1", "hs2")
        pal = tb.reserve("palisade")          # port + certificate for a third server named localhost:<port>
        ...

Layout of the run directory (``PALISADE_INTEROP_DIR`` or a fresh ``/tmp/palisade-interop-*``)::

    pki/ca.crt pki/ca.key pki/<label>.{crt,key,chain.crt}
    hs1/homeserver.yaml hs1/homeserver.log hs1/stdout.log hs1/homeserver.db ...
    hs2/...

The directory is removed on a clean exit unless ``keep=True`` or ``PALISADE_INTEROP_KEEP=1``; after an exception
it is kept so the logs can be read.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .http import free_port
from .pki import Leaf, LocalCA
from .synapse import Synapse

#: Every run directory made in this process, so a test session can check that no server it started outlived it.
RUN_DIRS: list[Path] = []


@dataclass(frozen=True)
class Reserved:
    """A port and certificate for a non-Synapse server (e.g. Palisade) in the test bed."""

    label: str
    port: int
    server_name: str
    cert: Path
    key: Path
    chain: Path

    def describe(self) -> dict[str, Any]:
        return {"label": self.label, "port": self.port, "server_name": self.server_name, "cert": str(self.cert),
                "key": str(self.key), "chain": str(self.chain)}


class Testbed:
    __test__ = False  # not a pytest test class

    def __init__(self, run_dir: os.PathLike[str] | str | None = None, *, keep: bool | None = None):
        run_dir = run_dir or os.environ.get("PALISADE_INTEROP_DIR")
        if run_dir:
            self.dir = Path(run_dir).resolve()
            self.dir.mkdir(parents=True, exist_ok=True)
        else:
            self.dir = Path(tempfile.mkdtemp(prefix="palisade-interop-"))
        RUN_DIRS.append(self.dir)
        self.keep = keep if keep is not None else os.environ.get("PALISADE_INTEROP_KEEP") == "1"
        self.ca = LocalCA(self.dir / "pki")
        self.synapses: dict[str, Synapse] = {}
        self.reserved: dict[str, Reserved] = {}

    # -- servers --------------------------------------------------------------------------------------------------
    def add_synapse(self, name: str, **kwargs: Any) -> Synapse:
        """Configures (does not start) a Synapse named ``name``; kwargs go to :class:`Synapse`."""
        if name in self.synapses:
            raise ValueError(f"duplicate server {name}")
        hs = Synapse(name, self.dir, ca=self.ca, **kwargs)
        self.synapses[name] = hs
        return hs

    def start_synapses(self, *names: str, timeout: float = 120.0, **kwargs: Any) -> list[Synapse]:
        """Adds (if new) and starts the named Synapses in parallel; returns them once all are healthy."""
        servers = [self.synapses.get(n) or self.add_synapse(n, **kwargs) for n in names]
        for hs in servers:
            hs.start(wait=False)
        for hs in servers:
            hs.wait_healthy(timeout=timeout)
        return servers

    def reserve(self, label: str = "palisade") -> Reserved:
        """A free loopback port and a CA-signed certificate for a third server named ``localhost:<port>``."""
        if label not in self.reserved:
            leaf: Leaf = self.ca.leaf(label)
            port = free_port()
            self.reserved[label] = Reserved(label, port, f"localhost:{port}", leaf.cert, leaf.key, leaf.chain)
        return self.reserved[label]

    def stop_all(self) -> None:
        for hs in self.synapses.values():
            hs.stop()

    # -- reporting ------------------------------------------------------------------------------------------------
    def log_tails(self, lines: int = 60) -> str:
        return "\n".join(hs.log_tail(lines) for hs in self.synapses.values())

    def describe(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.dir),
            "ca_cert": str(self.ca.cert),
            "ca_key": str(self.ca.key),
            "synapses": {n: hs.describe() for n, hs in self.synapses.items()},
            "reserved": {n: r.describe() for n, r in self.reserved.items()},
        }

    def close(self, failed: bool = False) -> None:
        """Stops everything; removes the run directory unless kept or ``failed``."""
        self.stop_all()
        if not failed and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Testbed":
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(failed=exc_type is not None)
