#!/usr/bin/env bash
# Install what v6fabric needs on this machine, idempotently.
#
#   ./scripts/setup.sh           system packages + .venv with `pip install -e .`
#   ./scripts/setup.sh --test    also PostgreSQL + `pip install -e '.[dev,postgres]'`
#
# Made for Debian 12 as root (CI runs it that way). Packages already present are not touched,
# `apt-get update` runs only when a missing package needs it, and pip runs only when
# pyproject.toml (or the requested extras) changed since the last install into .venv.
# Environment: PYTHON=/path/to/python3 picks the interpreter for a new .venv.
set -euo pipefail

# --- the package lists: extend these when a feature needs another Debian package ----------
# Build and run the Python service.
BASE_PACKAGES=(python3 python3-venv python3-dev gcc)
# The Linux dataplane: kernel tools, daemons it drives, and the tools workloads and tests use.
DATAPLANE_PACKAGES=(
  iproute2 nftables radvd dnsmasq-base keepalived
  isc-dhcp-client ndisc6 tcpdump iputils-ping procps curl  # curl: a guest's metadata fetch
)
# Only for ./scripts/test.sh (--test).
# iperf3: bench/firewall.py. user-mode-linux + kmod: the `uml` tests run in a UML guest (a kernel
# with 802.1Q, GRE... as modules; kmod's modprobe loads them there), see tests/uml_plugin.py.
TEST_PACKAGES=(postgresql iperf3 user-mode-linux kmod)
# ---------------------------------------------------------------------------------------------

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }

with_test=0
for arg in "$@"; do
  case "$arg" in
    --test) with_test=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "setup: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

log=$(mktemp -t v6fabric-setup.XXXXXX)
created_policy_rc=0
cleanup() {
  if [ "$created_policy_rc" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  rm -f "$log"
}
trap cleanup EXIT

show_log() { tail -n 40 "$log" | sed 's/^/    /' >&2; }

# --- system packages ----------------------------------------------------------------------------
packages=("${BASE_PACKAGES[@]}" "${DATAPLANE_PACKAGES[@]}")
if [ "$with_test" = 1 ]; then packages+=("${TEST_PACKAGES[@]}"); fi

missing_packages() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii' || echo "$pkg"
  done
}

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $*"
  fi
}

apt_update() {
  say "apt-get update"
  as_root apt-get update -qq >>"$log" 2>&1 || { show_log; die "apt-get update failed"; }
}

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    >>"$log" 2>&1
}

install_system_packages() {
  local missing pkg need_update=0 updated=0
  if ! command -v dpkg-query >/dev/null 2>&1; then
    say "not a Debian system: make sure these are installed: ${packages[*]}"
    return
  fi
  mapfile -t missing < <(missing_packages "${packages[@]}")
  if [ "${#missing[@]}" = 0 ]; then
    say "system packages present (${#packages[@]})"
    return
  fi
  say "installing system packages: ${missing[*]}"
  # Refresh the package lists only when some missing package is unknown to them.
  for pkg in "${missing[@]}"; do
    if ! apt-cache show --no-all-versions "$pkg" >/dev/null 2>&1; then need_update=1; break; fi
  done
  if [ "$need_update" = 1 ]; then apt_update; updated=1; fi
  # Packaged daemons (radvd, dnsmasq, keepalived, postgresql) try to start from their postinst;
  # keep them down: v6fabric starts what it needs in its own namespaces.
  if [ ! -e /usr/sbin/policy-rc.d ] && [ "$(id -u)" = 0 ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    created_policy_rc=1
  fi
  if ! apt_install "${missing[@]}"; then
    # Stale lists (a package version gone from the mirror): refresh once and retry.
    if [ "$updated" = 1 ]; then show_log; die "apt-get install failed"; fi
    apt_update
    apt_install "${missing[@]}" || { show_log; die "apt-get install failed"; }
  fi
  if [ "$created_policy_rc" = 1 ]; then rm -f /usr/sbin/policy-rc.d; created_policy_rc=0; fi
  mapfile -t missing < <(missing_packages "${packages[@]}")
  [ "${#missing[@]}" = 0 ] || die "still missing after install: ${missing[*]}"
}

# --- the virtual environment ---------------------------------------------------------------------
venv=$repo/.venv
stamp=$venv/.v6fabric-installed
if [ "$with_test" = 1 ]; then extras="dev,postgres"; else extras=""; fi

python_ok() {
  # A usable interpreter of Python >= 3.11.
  "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

make_venv() {
  local candidates=() py
  if [ -n "${PYTHON:-}" ]; then candidates+=("$PYTHON"); fi
  mapfile -t -O "${#candidates[@]}" candidates < <(type -ap python3 python3.13 python3.12 python3.11)
  for py in "${candidates[@]}"; do
    python_ok "$py" || continue
    rm -rf "$venv"
    if "$py" -m venv "$venv" >>"$log" 2>&1 && "$venv/bin/python" -m pip --version >/dev/null 2>&1
    then
      say "created .venv with $py ($("$venv/bin/python" -c 'import platform; print(platform.python_version())'))"
      return
    fi
  done
  rm -rf "$venv"
  show_log
  die "no python3 >= 3.11 on PATH can create a venv (on Debian: apt-get install python3-venv)"
}

install_python_packages() {
  local want have spec
  if [ ! -x "$venv/bin/python" ] || ! python_ok "$venv/bin/python" \
    || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    make_venv
  fi
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  have=$(cat "$stamp" 2>/dev/null || true)
  # The stamp holds "<hash of pyproject.toml> <extras>"; an install with extras also serves
  # a request without them.
  if [ "$have" = "$want $extras" ] || { [ -z "$extras" ] && [ "${have%% *}" = "$want" ]; }; then
    have=${have#"$want "}
    say "python packages up to date (.venv${have:+ with [$have]})"
    return
  fi
  spec="."
  if [ -n "$extras" ]; then spec=".[$extras]"; fi
  say "pip install -e '$spec' into .venv"
  rm -f "$stamp"
  "$venv/bin/python" -m pip install -q -e "$spec" >>"$log" 2>&1 \
    || { show_log; die "pip install -e '$spec' failed"; }
  printf '%s %s\n' "$want" "$extras" >"$stamp"
}

start=$SECONDS
install_system_packages
install_python_packages
say "done in $((SECONDS - start))s"
