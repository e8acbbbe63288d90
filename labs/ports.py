"""Picking TCP ports on this machine (tests, benchmarks and lessons start their own servers)."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def is_taken(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could not listen on ``host:port`` now (someone listens there, or binds it).

    Binds the way uvicorn, Streamlit and Flower do (``SO_REUSEADDR``), so a port
    left in ``TIME_WAIT`` by a server that just stopped counts as free, and a
    listener on the wildcard address (``0.0.0.0``, ``::``) counts as taking it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def next_free(port: int, host: str = "127.0.0.1", *, avoid: set[int] | None = None, span: int = 100) -> int | None:
    """The first port from ``port`` up (at most ``span`` tried) that is free and not in ``avoid``; None if none is."""
    for candidate in range(port, min(port + span, 65536)):
        if candidate not in (avoid or set()) and not is_taken(candidate, host):
            return candidate
    return None


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP ``port`` (any address), from ``/proc/net/tcp{,6}``."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as rows:
                next(rows, None)
                for row in rows:
                    fields = row.split()
                    if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        found.add(fields[9])
        except OSError:
            continue
    return found


def listens_on(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds a socket listening on ``port`` (None where ``/proc`` cannot tell).

    The launcher asks this before it prints a URL: a health check answered on
    the port proves only that *somebody* serves there.
    """
    import os

    inodes = _listening_inodes(port)
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return None
    if not inodes:
        return False
    for name in names:
        try:
            target = os.readlink(f"{fd_dir}/{name}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False
