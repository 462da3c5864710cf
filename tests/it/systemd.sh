#!/usr/bin/env bash
# The unit files install with the right paths and pass systemd-analyze verify.
set -eu
cd "$(dirname "$0")/../.."
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not installed"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
make -s install DESTDIR="$work" PREFIX=/usr/local SBINDIR=/sbin UNITDIR=/lib/systemd/system >/dev/null
units=$work/lib/systemd/system
for u in stepfs@.service stepfs-watch@.service; do
	[ -f "$units/$u" ] || { echo "missing $u"; exit 1; }
	grep -q "ExecStart=/usr/local/bin/stepfs serve" "$units/$u" || { echo "$u: bad ExecStart"; exit 1; }
done
[ -L "$work/sbin/mount.fuse.stepfs" ] || { echo "mount helper link missing"; exit 1; }
# verify resolves ExecStart= on the real root: point it at the freshly built binary
mkdir -p "$work/verify"
for u in stepfs@.service stepfs-watch@.service; do
	sed "s|/usr/local/bin/stepfs|$PWD/${O:-build/default}/stepfs|" "$units/$u" > "$work/verify/${u/@/@demo}"
done
cp systemd/mnt-data.mount.example "$work/verify/mnt-data.mount"
out=$(cd "$work/verify" && systemd-analyze verify --man=no ./*.service ./*.mount 2>&1) || true
printf '%s\n' "$out"
bad=$(printf '%s\n' "$out" | grep -E "stepfs|mnt-data" || true)
[ -z "$bad" ] || exit 1
echo "units verified"
