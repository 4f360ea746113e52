"""Namespace workloads: stand-ins for VMs that learn their configuration from the network only.

The host agent calls this package as it would a hypervisor:

* :func:`plug` (idempotent): namespace, one veth per port with the port's MAC and MTU, guest
  sysctls of a modern cloud image, and the guest agent (:mod:`.guest`) that runs DHCPv6/DHCPv4
  clients from what the RAs say and writes the workload's own resolv.conf, and once at its
  start runs the cloud-init-like step (:mod:`.cloudinit`: metadata over IPv6 link-local, SSH
  keys into the workload's own files, static addresses from ``network_data.json``);
* :func:`unplug`: stops the workload's processes, deletes its namespace and files;
* :func:`plugged`: the workload namespaces present;
* :func:`observe`: what the guest actually has (addresses, routes, resolver), from its kernel.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Eager: the submodule ``observe`` would otherwise shadow the function of that name.
from v6fabric.workloads.observe import GuestAddress, GuestInterface, GuestRoute, GuestView, observe

# ``plumbing`` on first use (PEP 562): the guest agent, started with every workload, imports
# this package and must not pay for the host side's imports (links, specs, netlink).
_LAZY = {"plug", "plugged", "unplug"}
__all__ = ["GuestAddress", "GuestInterface", "GuestRoute", "GuestView", "observe", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.plumbing"), name)
    globals()[name] = value
    return value
