#!/bin/sh
# dhclient hook (dhclient -sf) of a v6fabric workload.
#
# Runs inside the workload's network namespace and configures only $interface there:
#   DHCPv6: the leased address as /128 (nodad, the lease's lifetimes); DHCPv6 gives no routes,
#           the on-link prefix and the default route come from RAs.
#   DHCPv4: address/mask, classless static routes (option 121) or else a default route via the
#           first router (metric $V6W_METRIC, one per interface), the interface MTU (option 26).
# Resolver data goes to the workload's own directory ($V6W_DIR/dns/<interface>.<4|6>); the guest
# agent merges it with RDNSS/DNSSL into $V6W_DIR/resolv.conf. Never /etc/resolv.conf: a network
# namespace shares the host's filesystem. STOP keeps the configuration (it has lifetimes), as a
# network manager does when it restarts.

dir=${V6W_DIR:?V6W_DIR is not set}
metric=${V6W_METRIC:-100}
dns="$dir/dns"

say() { echo "dhclient-script: ${reason:-?} ${interface:-?}: $*" >&2; }

wake_agent() { # SIGUSR1 to the guest agent (only if that pid really is it: SIGUSR1 kills)
  pid=$(cat "$dir/guest.pid" 2>/dev/null)
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "v6fabric.workloads.guest"; then
    kill -USR1 "$pid" 2>/dev/null
  fi
  return 0
}

write_dns() { # family, servers, search domains
  mkdir -p "$dns"
  tmp="$dns/.$interface.$1.$$"
  {
    for server in $2; do echo "nameserver $server"; done
    [ -n "$3" ] && echo "search $3"
  } >"$tmp"
  mv -f "$tmp" "$dns/$interface.$1"
  say "resolver: servers [$2] search [$3]"
  wake_agent
}

clear_dns() { # family
  rm -f "$dns/$interface.$1"
  wake_agent
}

mask_len() { # dotted-quad mask -> prefix length
  len=0
  oldifs=$IFS
  IFS=.
  # shellcheck disable=SC2086 # split on dots on purpose
  set -- $1
  IFS=$oldifs
  for octet in "$@"; do
    case $octet in
      255) len=$((len + 8)) ;;
      254) len=$((len + 7)) ;;
      252) len=$((len + 6)) ;;
      248) len=$((len + 5)) ;;
      240) len=$((len + 4)) ;;
      224) len=$((len + 3)) ;;
      192) len=$((len + 2)) ;;
      128) len=$((len + 1)) ;;
    esac
  done
  echo "$len"
}

v4_routes() { # classless static routes (RFC 3442: they replace the router option) or routers
  classless=$(echo "${new_rfc3442_classless_static_routes:-}" | tr ',' ' ')
  if [ -n "$classless" ]; then
    # shellcheck disable=SC2086 # split into octets on purpose
    set -- $classless
    while [ $# -ge 5 ]; do
      plen=$1
      shift
      d1=0 d2=0 d3=0 d4=0
      i=1
      while [ $i -le $(((plen + 7) / 8)) ] && [ $# -gt 0 ]; do
        eval "d$i=\$1"
        shift
        i=$((i + 1))
      done
      [ $# -ge 4 ] || break
      gw="$1.$2.$3.$4"
      shift 4
      if [ "$gw" = 0.0.0.0 ]; then
        ip -4 route replace "$d1.$d2.$d3.$d4/$plen" dev "$interface" metric "$metric" proto dhcp
      else
        ip -4 route replace "$d1.$d2.$d3.$d4/$plen" via "$gw" dev "$interface" metric "$metric" proto dhcp
      fi
    done
  else
    for router in ${new_routers:-}; do
      ip -4 route replace default via "$router" dev "$interface" metric "$metric" proto dhcp
      break
    done
  fi
}

v4_bind() {
  if [ -n "${new_interface_mtu:-}" ] && [ "$new_interface_mtu" -ge 576 ] 2>/dev/null; then
    ip link set dev "$interface" mtu "$new_interface_mtu"
  fi
  new_len=$(mask_len "${new_subnet_mask:-255.255.255.255}")
  if [ -n "${old_ip_address:-}" ] && [ "$old_ip_address" != "${new_ip_address:-}" ]; then
    ip -4 addr del "$old_ip_address/$(mask_len "${old_subnet_mask:-255.255.255.255}")" dev "$interface" 2>/dev/null
  fi
  lifetime=${new_dhcp_lease_time:-forever}
  if [ -n "${new_broadcast_address:-}" ]; then
    ip -4 addr replace "$new_ip_address/$new_len" broadcast "$new_broadcast_address" \
      dev "$interface" valid_lft "$lifetime" preferred_lft "$lifetime"
  else
    ip -4 addr replace "$new_ip_address/$new_len" dev "$interface" \
      valid_lft "$lifetime" preferred_lft "$lifetime"
  fi
  if [ "${old_routers:-}" != "${new_routers:-}" ] ||
    [ "${old_rfc3442_classless_static_routes:-}" != "${new_rfc3442_classless_static_routes:-}" ]; then
    ip -4 route flush dev "$interface" proto dhcp 2>/dev/null
  fi
  v4_routes
  search=${new_domain_search:-${new_domain_name:-}}
  write_dns 4 "${new_domain_name_servers:-}" "$search"
  say "bound $new_ip_address/$new_len routers [${new_routers:-}]"
}

v4_unbind() {
  if [ -n "${old_ip_address:-}" ]; then
    ip -4 addr del "$old_ip_address/$(mask_len "${old_subnet_mask:-255.255.255.255}")" dev "$interface" 2>/dev/null
  fi
  ip -4 route flush dev "$interface" proto dhcp 2>/dev/null
  clear_dns 4
}

v6_bind() {
  if [ -n "${old_ip6_address:-}" ] && [ "$old_ip6_address" != "${new_ip6_address:-}" ]; then
    ip -6 addr del "$old_ip6_address/${old_ip6_prefixlen:-128}" dev "$interface" 2>/dev/null
  fi
  if [ -n "${new_ip6_address:-}" ]; then
    ip -6 addr replace "$new_ip6_address/${new_ip6_prefixlen:-128}" dev "$interface" \
      valid_lft "${new_max_life:-forever}" preferred_lft "${new_preferred_life:-forever}" nodad
    say "bound $new_ip6_address/${new_ip6_prefixlen:-128}"
  fi
  write_dns 6 "${new_dhcp6_name_servers:-}" "${new_dhcp6_domain_search:-}"
}

v6_unbind() {
  if [ -n "${old_ip6_address:-}" ]; then
    ip -6 addr del "$old_ip6_address/${old_ip6_prefixlen:-128}" dev "$interface" 2>/dev/null
  fi
  clear_dns 6
}

case "${reason:-}" in
  PREINIT | PREINIT6 | MEDIUM | NBI | V6ONLY) ;;
  BOUND | RENEW | REBIND | REBOOT) v4_bind ;;
  EXPIRE | FAIL | RELEASE) v4_unbind ;;
  TIMEOUT) exit 1 ;; # an old lease with no server to confirm it: not used
  BOUND6 | RENEW6 | REBIND6 | REBOOT6) v6_bind ;;
  DEPREF6)
    [ -n "${cur_ip6_address:-}" ] &&
      ip -6 addr change "$cur_ip6_address/${cur_ip6_prefixlen:-128}" dev "$interface" preferred_lft 0
    ;;
  EXPIRE6 | RELEASE6) v6_unbind ;;
  STOP | STOP6) ;;
  *) say "ignored" ;;
esac
exit 0
