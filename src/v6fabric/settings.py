"""Settings, built once at start-up and passed to whatever needs them (no globals)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from v6fabric.hoststate.vrrp import VRRP_ADVERT_INTERVAL

DEFAULT_STATE_DIR = Path("/var/lib/v6fabric")


@dataclass(frozen=True)
class Settings:
    state_dir: Path = DEFAULT_STATE_DIR
    database_url: str | None = None  # None: SQLite in the state directory
    api_host: str = "127.0.0.1"
    api_port: int = 9696
    public_url: str | None = None  # base URL put in the catalog; derived from host/port if unset
    region: str = "RegionOne"
    token_ttl_seconds: int = 3600
    token_cache_seconds: float = 5.0  # how long a validated token is trusted without the DB
    tenant_network_type: str = "vxlan"
    vxlan_id_range: tuple[int, int] = (1000, 1999)
    gre_id_range: tuple[int, int] = (1000, 1999)
    global_physnet_mtu: int = 1500
    overlay_ip_version: int = 4  # underlay family of tunnels: decides the overlay MTU overhead
    physical_networks: tuple[str, ...] = field(default_factory=lambda: ("physnet1",))
    dns_domain: str | None = None  # DNSSL in RAs and DHCP domain-search, when set
    # A host whose agent has not reported for longer is not live: its routers move (Neutron's
    # agent_down_time). Agents report at least every few seconds (``agent.reporter``).
    l3_agent_down_seconds: float = 75.0
    # The upstream next hop of routers whose external network gives none (no IPv6 subnet with a
    # gateway_ip), usually the upstream router's link-local: Neutron's l3 agent ``ipv6_gateway``.
    # None: such routers take their default route from the upstream's RAs.
    ipv6_gateway: str | None = None
    # L3 HA (issue 7): whether a router is made ``ha`` when its creator does not say (Neutron's
    # ``l3_ha``), on how many L3 hosts at most an HA router runs (``max_l3_agents_per_router``),
    # and keepalived's advert interval in seconds (master down after ~3 adverts missed).
    l3_ha: bool = False
    max_l3_agents_per_router: int = 2
    ha_advert_interval: float = VRRP_ADVERT_INTERVAL
    # Whether a router is made ``distributed`` (R20) when its creator does not say (Neutron's
    # ``router_distributed``). With ``l3_ha`` on too, a request naming neither gets a
    # distributed router (distributed HA routers are not supported).
    router_distributed: bool = False

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.api_host}]" if ":" in self.api_host else self.api_host
        return f"http://{host}:{self.api_port}"

    @property
    def identity_url(self) -> str:
        return f"{self.base_url}/identity/v3"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'v6fabric.db'}"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from V6FABRIC_* variables, then explicit overrides (None means unset)."""
        values: dict[str, object] = {}
        if env_dir := os.environ.get("V6FABRIC_STATE_DIR"):
            values["state_dir"] = Path(env_dir)
        if env_db := os.environ.get("V6FABRIC_DATABASE_URL"):
            values["database_url"] = env_db
        if env_overlay := os.environ.get("V6FABRIC_OVERLAY_IP_VERSION"):
            values["overlay_ip_version"] = _ip_version(env_overlay)
        if env_down := os.environ.get("V6FABRIC_L3_AGENT_DOWN_SECONDS"):
            values["l3_agent_down_seconds"] = _positive_seconds(env_down)
        if env_gateway := os.environ.get("V6FABRIC_IPV6_GATEWAY"):
            values["ipv6_gateway"] = _ipv6_address(env_gateway)
        if env_ha := os.environ.get("V6FABRIC_L3_HA"):
            values["l3_ha"] = _boolean("V6FABRIC_L3_HA", env_ha)
        if env_dvr := os.environ.get("V6FABRIC_ROUTER_DISTRIBUTED"):
            values["router_distributed"] = _boolean("V6FABRIC_ROUTER_DISTRIBUTED", env_dvr)
        if env_max := os.environ.get("V6FABRIC_MAX_L3_AGENTS_PER_ROUTER"):
            values["max_l3_agents_per_router"] = _agents_per_router(env_max)
        if env_advert := os.environ.get("V6FABRIC_HA_ADVERT_INTERVAL"):
            values["ha_advert_interval"] = _advert_interval(env_advert)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _ip_version(text: str) -> int:
    """4 or 6 (the only families a tunnel underlay can have); anything else is a typo."""
    if text.strip() not in ("4", "6"):
        raise ValueError(f"V6FABRIC_OVERLAY_IP_VERSION must be 4 or 6, not {text!r}")
    return int(text)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ValueError(f"V6FABRIC_L3_AGENT_DOWN_SECONDS must be a positive number, not {text!r}")
    return value


def _ipv6_address(text: str) -> str:
    """A plain IPv6 address (a next hop), normalised; anything else is a typo."""
    try:
        address = ipaddress.IPv6Address(text.strip())
    except ValueError:
        raise ValueError(f"V6FABRIC_IPV6_GATEWAY must be an IPv6 address, not {text!r}") from None
    return str(address)


def _boolean(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {text!r}")


def _agents_per_router(text: str) -> int:
    """At least 2: one instance is no HA (Neutron refuses less too)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise ValueError(f"V6FABRIC_MAX_L3_AGENTS_PER_ROUTER must be an integer >= 2, not {text!r}")
    return value


def _advert_interval(text: str) -> float:
    """VRRPv3 counts in centiseconds: 0.01 s to 40.95 s."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.01 <= value <= 40.95:
        raise ValueError(
            f"V6FABRIC_HA_ADVERT_INTERVAL must be seconds between 0.01 and 40.95, not {text!r}"
        )
    return value
