"""The host agent: fetch the host's ``HostState``, read the host, apply only the difference.

``reconcile.plan`` is the pure diff, ``managers`` apply its actions through ``drivers``, and
``loop.Agent`` ties it to the server (``client``).
"""
