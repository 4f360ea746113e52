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

from v6fabric.workloads.observe import GuestAddress, GuestInterface, GuestRoute, GuestView, observe
from v6fabric.workloads.plumbing import plug, plugged, unplug

__all__ = [
    "GuestAddress",
    "GuestInterface",
    "GuestRoute",
    "GuestView",
    "observe",
    "plug",
    "plugged",
    "unplug",
]
