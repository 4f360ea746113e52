"""The host's metadata proxy: one process serving every metadata namespace of the host.

It listens on ``[fe80::a9fe:a9fe%<iface>]:80`` (and ``169.254.169.254:80``) inside each
listener's namespace, identifies the requester by network, source address and the MAC the
neighbour table holds for it, and answers with that device's data: from the fabric's own
records (``documents``) or from a Nova-compatible backend it proxies to (``backend``).
"""
