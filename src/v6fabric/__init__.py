"""v6fabric: an IPv6-first network service with a Neutron-compatible API."""
