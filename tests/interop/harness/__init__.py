"""Loopback Synapse test bed for Palisade's federation and /sign interop tests. See tests/interop/README.md."""

from .client import MatrixClient, login, register_shared_secret
from .http import MatrixError, free_port, request_json
from .pki import LocalCA
from .synapse import SYNAPSE_VERSION, Synapse, SynapseStartError
from .testbed import Reserved, Testbed

__all__ = [
    "LocalCA",
    "MatrixClient",
    "MatrixError",
    "Reserved",
    "SYNAPSE_VERSION",
    "Synapse",
    "SynapseStartError",
    "Testbed",
    "free_port",
    "login",
    "register_shared_secret",
    "request_json",
]
