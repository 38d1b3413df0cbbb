#!/usr/bin/env bash
# Two ranks as two machines: each in a network namespace of its own, joined by a veth pair, MPI
# over TCP only (--mca btl tcp,self), launched from a hostfile as on a cluster. mpirun starts the
# second host's daemon through a launcher that enters that namespace (where a cluster would use
# ssh). Every step's loss must match one process's on the whole batch (1e-5 relative).
# Skipped, saying why, where namespaces cannot be made (no root, no CAP_SYS_ADMIN).
# Usage: two_hosts.sh path/to/ddp_worker
set -euo pipefail
worker=$1
skip() {
  echo "SKIPPED: $*"
  exit 0
}
command -v ip >/dev/null || skip "no 'ip' command (Debian's iproute2)"
tag=tg$$
host_a=10.231.0.1 host_b=10.231.0.2
work=$(mktemp -d)
cleanup() {
  ip netns del "$tag-a" 2>/dev/null || true
  ip netns del "$tag-b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$tag-a" 2>/dev/null || skip "network namespaces cannot be made here (root needed)"
ip netns add "$tag-b"
ip link add "$tag-va" type veth peer name "$tag-vb"
ip link set "$tag-va" netns "$tag-a"
ip link set "$tag-vb" netns "$tag-b"
ip -n "$tag-a" addr add "$host_a/24" dev "$tag-va"
ip -n "$tag-b" addr add "$host_b/24" dev "$tag-vb"
for side in a b; do
  ip -n "$tag-$side" link set lo up
  ip -n "$tag-$side" link set "$tag-v$side" up
done

printf '%s slots=1\n%s slots=1\n' "$host_a" "$host_b" >"$work/hostfile"
# mpirun calls its launcher as it would call ssh: [options] host command; the command is one
# shell line for the remote side.
cat >"$work/launch" <<LAUNCH
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done
host=\$1
shift
[ "\$host" = "$host_b" ] || { echo "launch: unknown host \$host" >&2; exit 1; }
exec ip netns exec "$tag-b" /bin/sh -c "\$*"
LAUNCH
chmod +x "$work/launch"

"$worker" --steps 20 >"$work/one_process.txt"
ip netns exec "$tag-a" mpirun -np 2 --hostfile "$work/hostfile" --bind-to none \
  --mca plm_rsh_agent "$work/launch" --mca btl tcp,self \
  --mca btl_tcp_if_include 10.231.0.0/24 --mca oob_tcp_if_include 10.231.0.0/24 \
  "$worker" --steps 20 >"$work/two_hosts.txt"

echo "one process | two hosts:"
paste -d'|' "$work/one_process.txt" "$work/two_hosts.txt"
# The losses only: Adam turns the last-bit differences of near-zero gradients into updates of
# up to lr, so single parameters (and the sum printed last) may differ by more.
awk '$1 != "step" { next }
     NR == FNR { one[$2] = $NF; next }
     { n++; d = $NF - one[$2]; if (d < 0) d = -d; s = one[$2] < 0 ? -one[$2] : one[$2]
       if (d > 1e-5 * s) { print "FAIL: step " $2 ": " one[$2] " vs " $NF; bad = 1 } }
     END { if (n != 20) { print "FAIL: " n " steps from the two hosts, 20 expected"; bad = 1 }
           exit bad }' "$work/one_process.txt" "$work/two_hosts.txt"
echo "two hosts over TCP match one process"
