"""Where a workload keeps its files: ``<run_dir>/workloads/<namespace>/``.

Everything a workload writes lives there (pid files, dhclient leases and logs, its resolv.conf,
the guest agent's state, what its cloud-init-like step fetched, its own ``root/.ssh``), so that
unplugging it is removing one directory. Nothing is ever written to ``/etc`` or the host's
``/root``: namespaces share the host's filesystem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WorkloadPaths:
    root: Path

    @classmethod
    def of(cls, run_dir: Path, namespace: str) -> WorkloadPaths:
        return cls(Path(run_dir) / "workloads" / namespace)

    @property
    def spec(self) -> Path:
        """What plug() made (interfaces, taps, host namespace): lets unplug() find leftovers."""
        return self.root / "spec.json"

    @property
    def guest_pid(self) -> Path:
        return self.root / "guest.pid"

    @property
    def guest_log(self) -> Path:
        return self.root / "guest.log"

    @property
    def state(self) -> Path:
        """The guest agent's view of the network (RA flags, DHCP clients), JSON."""
        return self.root / "state.json"

    @property
    def resolv_conf(self) -> Path:
        return self.root / "resolv.conf"

    @property
    def dhclient_script(self) -> Path:
        return self.root / "dhclient-script"

    @property
    def dhclient_conf(self) -> Path:
        return self.root / "dhclient.conf"

    @property
    def dns_dir(self) -> Path:
        """Resolver data from DHCP leases, one file per interface and family (the hook writes)."""
        return self.root / "dns"

    @property
    def metadata_dir(self) -> Path:
        """What the cloud-init-like step fetched, as a guest's ``/var/lib/cloud`` keeps it:
        ``meta_data.json``, ``network_data.json``, ``user_data`` (absent: none) and
        ``status.json`` (when, from which URL, success or the last error)."""
        return self.root / "metadata"

    def metadata_file(self, name: str) -> Path:
        return self.metadata_dir / name

    @property
    def cloudinit_status(self) -> Path:
        return self.metadata_dir / "status.json"

    @property
    def home(self) -> Path:
        """The workload's own root home directory (its ``/root``)."""
        return self.root / "root"

    @property
    def authorized_keys(self) -> Path:
        """The SSH keys from the metadata service (``root/.ssh``: 0700, the file 0600)."""
        return self.home / ".ssh" / "authorized_keys"

    def dhclient_pid(self, family: int, ifname: str) -> Path:
        return self.root / f"dhclient{family}.{ifname}.pid"

    def dhclient_leases(self, family: int, ifname: str) -> Path:
        return self.root / f"dhclient{family}.{ifname}.leases"

    def dhclient_log(self, family: int, ifname: str) -> Path:
        return self.root / f"dhclient{family}.{ifname}.log"

    def pid_files(self) -> list[Path]:
        return sorted(self.root.glob("*.pid"))
