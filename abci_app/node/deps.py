"""The protobuf runtime that consensus was tested against, checked before the app starts.

Consensus parses untrusted protobuf and writes deterministic serializations into
state, so another protobuf version or backend could decode or encode differently
from the rest of the network. pyproject.toml pins the same version; a unit test ties
the two together.
"""

import google.protobuf
from google.protobuf.internal import api_implementation

PROTOBUF_VERSION = "7.36.2"
PROTOBUF_BACKEND = "upb"


class DependencyError(Exception):
    """A consensus dependency differs from the pinned one; the app must not start."""


def get_protobuf_runtime() -> tuple[str, str]:
    """The installed protobuf version and backend ("upb", "cpp" or "python")."""
    return str(google.protobuf.__version__), str(api_implementation.Type())


def check_protobuf_runtime(version: str, backend: str) -> None:
    """Raise DependencyError unless (version, backend) is the pinned pair."""
    if (version, backend) != (PROTOBUF_VERSION, PROTOBUF_BACKEND):
        raise DependencyError(
            f"protobuf {PROTOBUF_VERSION} ({PROTOBUF_BACKEND} backend) expected, found "
            f"{version} ({backend} backend): install the pinned version (./scripts/install)")


def check_consensus_deps() -> None:
    """Refuse to start on a protobuf runtime other than the pinned one."""
    check_protobuf_runtime(*get_protobuf_runtime())
