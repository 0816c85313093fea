"""A throwaway local certificate authority for loopback federation tests, made with the openssl CLI.

Every server in the test bed is named ``localhost:<port>`` (see README.md), so every leaf certificate carries
the same names: ``DNS:localhost``, ``IP:127.0.0.1`` and ``IP:::1``. Synapse sends SNI ``localhost`` and checks
the certificate against it; trusting ``ca.crt`` (``federation_custom_ca_list``) is all a peer needs.

Layout of a PKI directory (per test run, never committed)::

    <dir>/ca.crt  <dir>/ca.key                 the CA (EC P-256, PKCS#8 keys, valid 2 days)
    <dir>/<label>.crt  <dir>/<label>.key       one leaf per server label (hs1, hs2, palisade, ...)
    <dir>/<label>.chain.crt                    the leaf followed by the CA, for servers that send a chain

CLI: ``python -m harness.pki DIR LABEL...`` creates the CA if missing, issues the leaves that are missing and
prints one ``label cert key`` line per leaf (``ca`` first).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DNS_NAMES = ("localhost",)
DEFAULT_IPS = ("127.0.0.1", "::1")
VALID_DAYS = 2


@dataclass(frozen=True)
class Leaf:
    label: str
    cert: Path
    key: Path
    chain: Path


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{proc.stdout}")


def _genkey(path: Path) -> None:
    """An EC P-256 key in PKCS#8 PEM ("BEGIN PRIVATE KEY"), which OpenSSL, Twisted and rustls all read."""
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    os.chmod(path, 0o600)


class LocalCA:
    """A CA rooted in ``directory``; creates it on first use, reuses it afterwards."""

    def __init__(self, directory: os.PathLike[str] | str):
        self.dir = Path(directory).resolve()
        self.cert = self.dir / "ca.crt"
        self.key = self.dir / "ca.key"
        self.dir.mkdir(parents=True, exist_ok=True)
        if not (self.cert.exists() and self.key.exists()):
            self._create()

    def _create(self) -> None:
        _genkey(self.key)
        _openssl(
            "req", "-x509", "-new", "-sha256", "-key", str(self.key), "-out", str(self.cert),
            "-days", str(VALID_DAYS), "-subj", "/O=Palisade interop tests/CN=Palisade interop test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-addext", "subjectKeyIdentifier=hash",
        )

    def leaf(
        self,
        label: str,
        dns_names: tuple[str, ...] = DEFAULT_DNS_NAMES,
        ips: tuple[str, ...] = DEFAULT_IPS,
    ) -> Leaf:
        """Issues (once) a server+client certificate for ``label`` with the given SANs."""
        if not label.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"bad certificate label {label!r}")
        cert, key, chain = self.dir / f"{label}.crt", self.dir / f"{label}.key", self.dir / f"{label}.chain.crt"
        if cert.exists() and key.exists() and chain.exists():
            return Leaf(label, cert, key, chain)
        san = ",".join([f"DNS:{d}" for d in dns_names] + [f"IP:{ip}" for ip in ips])
        with tempfile.TemporaryDirectory(dir=self.dir) as tmp:
            csr, ext = Path(tmp) / "leaf.csr", Path(tmp) / "leaf.ext"
            ext.write_text(
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth,clientAuth\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid\n"
                f"subjectAltName={san}\n"
            )
            _genkey(key)
            _openssl("req", "-new", "-sha256", "-key", str(key), "-out", str(csr),
                     "-subj", f"/O=Palisade interop tests/CN={dns_names[0] if dns_names else label}")
            _openssl(
                "x509", "-req", "-sha256", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
                "-set_serial", str(int.from_bytes(os.urandom(8), "big") | 1),
                "-days", str(VALID_DAYS), "-extfile", str(ext), "-out", str(cert),
            )
        chain.write_text(cert.read_text() + self.cert.read_text())
        return Leaf(label, cert, key, chain)


def main(argv: list[str]) -> int:
    if len(argv) < 1:
        print("usage: python -m harness.pki DIR [LABEL...]", file=sys.stderr)
        return 2
    ca = LocalCA(argv[0])
    print(f"ca {ca.cert} {ca.key}")
    for label in argv[1:]:
        leaf = ca.leaf(label)
        print(f"{label} {leaf.cert} {leaf.key}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
