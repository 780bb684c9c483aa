#!/usr/bin/env bash
# Removes what a berth daemon leaves in its network namespace once it is stopped and its
# containers are gone: the default bridge (berth0) and berth's firewall chains with the jumps to
# them. For scripts that start a daemon in the host's namespace (demo, benchmarks, examples).
# Usage: scripts/network-cleanup.sh
set -uo pipefail
ip link del berth0 2>/dev/null
for jump in "filter FORWARD -j BERTH-FORWARD" "nat POSTROUTING -j BERTH-POSTROUTING" \
  "nat PREROUTING -m addrtype --dst-type LOCAL -j BERTH-DNAT" \
  "nat OUTPUT -m addrtype --dst-type LOCAL -j BERTH-DNAT"; do
  read -r table rule <<<"$jump"
  # shellcheck disable=SC2086
  while iptables -w -t "$table" -D $rule 2>/dev/null; do :; done
done
for chain in "filter BERTH-FORWARD" "nat BERTH-POSTROUTING" "nat BERTH-DNAT"; do
  read -r table name <<<"$chain"
  iptables -w -t "$table" -F "$name" 2>/dev/null
  iptables -w -t "$table" -X "$name" 2>/dev/null
done
exit 0
