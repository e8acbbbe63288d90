"""A second machine on this one: a network namespace behind a veth pair, with a host name of its own.

A worker run in it (:meth:`SecondHost.command`) reaches this machine only over the veth link, so
:meth:`SecondHost.partition` cuts it off the network (link down) while its process lives on, as a
worker machine whose cable is pulled; :meth:`SecondHost.heal` plugs it back. Its own host name
(a UTS namespace) matters: the lab never takes a job for abandoned while its worker's process is alive
on the *same* host name, so a second machine that shared ours would never be recovered.

Needs root and iproute2's ``ip`` (and util-linux's ``unshare``); :func:`unavailable` says why not.
Addresses are link-local /30s of the test's choosing, routed nowhere else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from types import TracebackType


def unavailable() -> str | None:
    """Why this machine cannot make a :class:`SecondHost` (None when it can)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root (run the test as root, e.g. in the CI container)"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found (install iproute2 / util-linux)"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class SecondHost:
    """A network namespace ``labpart-<pid>-<n>`` joined to this machine by a veth pair.

    This side of the link is :attr:`host_address` (bind a server there), the namespace's side
    :attr:`guest_address`. :meth:`close` (or leaving the ``with`` block) deletes the namespace and
    the veth, whatever happened.
    """

    _count = 0

    def __init__(self, hostname: str = "labpart-host2") -> None:
        SecondHost._count += 1
        n, pid = SecondHost._count, os.getpid()
        self.name = f"labpart-{pid}-{n}"
        self.hostname = hostname
        self.host_veth = f"lpH{pid % 100000}x{n}"[:15]  # interface names: at most 15 characters
        self.guest_veth = f"lpN{pid % 100000}x{n}"[:15]
        # a /30 in 169.254.0.0/16 (link-local, never routed), away from 169.254.169.254 (cloud metadata)
        slot = (pid * 7 + n) % 12000
        third, fourth = 1 + slot // 64, 4 * (slot % 64)
        third += third >= 169
        self.host_address = f"169.254.{third}.{fourth + 1}"
        self.guest_address = f"169.254.{third}.{fourth + 2}"
        self.created = False

    def create(self) -> SecondHost:
        """Make the namespace, the veth pair and the addresses, links up; undone again if a step fails."""
        try:
            _ip("netns", "add", self.name)
            self.created = True
            _ip("link", "add", self.host_veth, "type", "veth", "peer", "name", self.guest_veth)
            _ip("link", "set", self.guest_veth, "netns", self.name)
            _ip("addr", "add", f"{self.host_address}/30", "dev", self.host_veth)
            _ip("netns", "exec", self.name, "ip", "addr", "add", f"{self.guest_address}/30", "dev", self.guest_veth)
            _ip("netns", "exec", self.name, "ip", "link", "set", "lo", "up")
            _ip("netns", "exec", self.name, "ip", "link", "set", self.guest_veth, "up")
            _ip("link", "set", self.host_veth, "up")
        except BaseException:
            self.close()
            raise
        return self

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace under :attr:`hostname` (each step ``exec``s: the pid is ``argv``'s)."""
        shell = 'hostname "$0" && exec "$@"'
        return ["ip", "netns", "exec", self.name, "unshare", "--uts", "sh", "-c", shell, self.hostname, *argv]

    def partition(self) -> None:
        """Cut the link (this side down): packets either way are lost, connections stay open on both ends."""
        _ip("link", "set", self.host_veth, "down")

    def heal(self) -> None:
        """Bring the link back: what the namespace's side was retransmitting gets through."""
        _ip("link", "set", self.host_veth, "up")

    def close(self) -> None:
        """Delete the veth (both ends) and the namespace; quiet about what is already gone."""
        subprocess.run(["ip", "link", "del", self.host_veth], capture_output=True, timeout=10, check=False)
        if self.created:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10, check=False)
            self.created = False

    def __enter__(self) -> SecondHost:
        return self.create()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
