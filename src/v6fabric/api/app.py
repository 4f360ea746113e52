"""The API process: Neutron v2.0, the Keystone v3 subset and (later) /fabric/v1 on one port."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from v6fabric.api.errors import install_error_handlers
from v6fabric.api.fabric.routes import router as fabric_router
from v6fabric.api.keystone.routes import router as keystone_router
from v6fabric.api.neutron.routes import build_router as build_neutron_router
from v6fabric.api.request_id import RequestIdMiddleware
from v6fabric.api.responses import JSONBody
from v6fabric.identity.service import IdentityService
from v6fabric.services.registry import Services
from v6fabric.services.scheduling import Rescheduler
from v6fabric.settings import Settings
from v6fabric.store.db import Database, migrate

# Set by the test suites: after every commit, the compile of every host from the server's
# live inputs is checked against a compile of a full read (``FabricMirror``). Slow: tests only.
VERIFY_LIVE = "V6FABRIC_VERIFY_LIVE"


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    """Build the application; the database is migrated to the newest schema first."""
    if db is None:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.db_url)
    migrate(db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The periodic L3 and DHCP rescheduling runs while the app does
        (``services.l3_scheduler``, ``services.dhcp_scheduler``)."""
        services = app.state.services
        rescheduler = Rescheduler(services.l3_scheduler, services.dhcp_scheduler).start()
        try:
            yield
        finally:
            rescheduler.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="v6fabric",
        version="0.1.0",
        description=(
            "IPv6-first network service with a Neutron v2.0 compatible API. Beyond Neutron: a "
            "chosen `ip_address` on a SLAAC or DHCPv6-stateless subnet is accepted and reported "
            "(requirement R8) instead of being refused with AllocationOnAutoAddressSubnet."
        ),
        default_response_class=JSONBody,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.identity = IdentityService(db, settings)
    app.state.services = Services(db, settings)
    if os.environ.get(VERIFY_LIVE) == "1":  # the test suites: every commit checks the mirror
        db.on_commit(lambda _revision: app.state.services.fabric_mirror.check_against_full_read())
    install_error_handlers(app)
    app.include_router(keystone_router, prefix="/identity")
    app.include_router(build_neutron_router())
    app.include_router(fabric_router)
    app.add_middleware(RequestIdMiddleware)
    return app
