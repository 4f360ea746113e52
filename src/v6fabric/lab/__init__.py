"""A multi-host lab on one machine: N simulated hosts, each a network namespace joined to the
others by an underlay, each running a real agent process that reaches a real API server over
that underlay, as remote hosts would. Used by tests (``tests/e2e/multihost.py``) and demos
(``v6fabric lab up``)."""

from v6fabric.lab.plan import LabPlan, plan
from v6fabric.lab.run import LabHandle, LabHost, down, up

__all__ = ["LabHandle", "LabHost", "LabPlan", "down", "plan", "up"]
