"""All resource services, built once per process from the database and settings."""

from __future__ import annotations

from v6fabric.services.agents import AgentService
from v6fabric.services.dhcp_scheduler import DhcpScheduler
from v6fabric.services.fabric import FabricService
from v6fabric.services.fabric_mirror import FabricMirror
from v6fabric.services.l3_scheduler import L3Scheduler
from v6fabric.services.networks import NetworkService
from v6fabric.services.ports import PortService
from v6fabric.services.quotas import QuotaService
from v6fabric.services.routers import RouterService
from v6fabric.services.security_group_rules import SecurityGroupRuleService
from v6fabric.services.security_groups import SecurityGroupService
from v6fabric.services.subnetpools import SubnetPoolService
from v6fabric.services.subnets import SubnetService
from v6fabric.services.upstream_routes import UpstreamRouteService
from v6fabric.services.workloads import WorkloadService
from v6fabric.settings import Settings
from v6fabric.store.db import Database


class Services:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.networks = NetworkService(db, settings)
        self.subnets = SubnetService(db, settings)
        self.subnetpools = SubnetPoolService(db, settings)
        self.ports = PortService(db, settings)
        self.quotas = QuotaService(db, settings)
        self.routers = RouterService(db, settings)
        self.security_groups = SecurityGroupService(db, settings)
        self.security_group_rules = SecurityGroupRuleService(db, settings)
        self.workloads = WorkloadService(db, settings)
        self.fabric = FabricService(db, settings, self)
        self.fabric_mirror = FabricMirror(self.fabric)
        self.l3_scheduler = L3Scheduler(db, settings)
        self.dhcp_scheduler = DhcpScheduler(db, settings)
        self.agents = AgentService(db, settings)
        self.upstream_routes = UpstreamRouteService(db)
