"""Joining a Ray cluster as its driver (Ray is an optional extra: imported here, lazily).

A wrong address would leave ``ray.init`` retrying for minutes, so the address is first
tried with a plain TCP connection: an unreachable cluster is one clear line within seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from collections.abc import Iterator
from types import ModuleType

from core.errors import LookalikeError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'lookalike[cluster]'"
CONNECT_TIMEOUT_S = 5.0


class ClusterUnavailable(LookalikeError):
    """Ray is not installed, or the cluster at the address cannot be joined."""


def import_ray() -> ModuleType:
    """The ``ray`` module, with Ray Data (ClusterUnavailable when the extra is missing)."""
    try:
        import ray
        import ray.data  # Ray Data comes with ray[data] only
    except ImportError as exc:
        raise ClusterUnavailable(
            f"Ray is not installed here ({exc.name or exc}): {INSTALL_HINT}") from exc
    return ray


def host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a ``HOST:PORT`` or ``ray://HOST:PORT`` address; None for ``auto``.
    BadAddress when it is neither."""
    if address == "auto":
        return None
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterUnavailable(
            f"{address!r} is not a Ray address: give HOST:PORT of the head node (as "
            "'ray start --head' prints it), ray://HOST:PORT, or auto")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ClusterUnavailable unless something listens at the address."""
    target = host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError | socket.timeout):
            reason = f"no answer within {timeout:.0f} s"
        raise ClusterUnavailable(
            f"Cannot reach a Ray cluster at {address} ({reason.lower()}): start one with "
            "'ray start --head' or check the address") from exc


@contextlib.contextmanager
def joined(address: str) -> Iterator[ModuleType]:
    """Join the cluster at ``address`` for the block (the ray module), then leave it."""
    ray = import_ray()
    check_reachable(address)
    quiet = not log.isEnabledFor(logging.INFO)  # -v shows Ray's notices
    if quiet:
        # Ray's C++ core prints notices on stderr (e.g. that Ray Data's actors have their
        # arguments in the object store): only fatal ones, and the line saying so goes to
        # /dev/null with the rest of ray.init's chatter; its failures are raised.
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    try:
        with _stderr_to_null(quiet):
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except Exception as exc:  # Ray raises many kinds: one line for all
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ClusterUnavailable(f"Cannot join the Ray cluster at {address}: {first}") from exc
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        yield ray
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _stderr_to_null(active: bool) -> Iterator[None]:
    """File descriptor 2 to /dev/null for the block (C++ code writes there, not sys.stderr)."""
    if not active:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
