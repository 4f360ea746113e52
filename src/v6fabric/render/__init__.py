"""Pure renderers: hoststate specs -> daemon configuration text.

No I/O, no probing: paths and capabilities come in as arguments, text comes out, and anything
the daemon would refuse or misread raises ``ValueError``. Imports only the standard library and
``v6fabric.hoststate``.
"""

from v6fabric.render.dnsmasq import render_dnsmasq_conf, render_dnsmasq_hosts, render_dnsmasq_opts
from v6fabric.render.radvd import render_radvd

__all__ = [
    "render_dnsmasq_conf",
    "render_dnsmasq_hosts",
    "render_dnsmasq_opts",
    "render_radvd",
]
