#!/usr/bin/env bash
# tests/servers/up.sh: start the S3 test servers on 127.0.0.1, without systemd,
# in a per-run state directory, and print the environment for the tests:
#
#   eval "$(tests/servers/up.sh)"     ... tests ...     tests/servers/down.sh
#
# Ceph RGW (authoritative, verifies SigV4): one monitor, one bluestore OSD on a
# sparse file, one radosgw, no mgr, cephx on (recipe and settings:
# ../shared/reference/s3-servers.md). A user with a known key and a bucket are
# created. s3rver (npm, in build/npm; quick functional checks only, it does not
# verify signatures) runs beside it when installed.
#
# stdout: `export NAME=VALUE ...` lines only. Everything else goes to stderr.
# Ports are picked free at start, so several instances can run at once.
# On failure: the tail of the logs on stderr, everything stopped, exit 1.
#
# Environment: STEPFS_SERVERS_DIR (state dir; default a new
# ${TMPDIR:-/tmp}/stepfs-ceph-XXXX), STEPFS_SERVERS_KEEP=1 (keep the dir and
# daemons when start-up fails; otherwise a failed start is retried once on
# other ports), STEPFS_NO_S3RVER=1 (skip s3rver),
# STEPFS_TEST_S3_BUCKET (bucket name, default stepfs-test),
# STEPFS_SERVERS_OSD_GB (size of the OSD's sparse block file in GiB, default
# 10; it fills at about that much data: the benchmark's 10 x 1 GiB writers
# ask for more).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/servers/common.sh
. "$here/common.sh"

AK=STEPFSTESTACCESSKEY01
SK=stepfs-test-secret-0123456789abcdefABCDEF
BUCKET=${STEPFS_TEST_S3_BUCKET:-stepfs-test}
T0=$(date +%s%N)

for c in ceph-mon ceph-osd radosgw ceph ceph-authtool monmaptool radosgw-admin curl; do
	command -v "$c" >/dev/null || { srv_say "'$c' not found: run tests/deps.sh"; exit 1; }
done

if [ -n "${STEPFS_SERVERS_DIR:-}" ]; then
	DIR=$STEPFS_SERVERS_DIR
	if [ -e "$DIR/ceph.conf" ]; then
		srv_say "'$DIR' already holds a cluster; run tests/servers/down.sh first"
		exit 1
	fi
	mkdir -p "$DIR"
else
	DIR=$(mktemp -d "${TMPDIR:-/tmp}/stepfs-ceph-XXXX")
fi
DIR=$(cd "$DIR" && pwd)
OSD_GB=${STEPFS_SERVERS_OSD_GB:-10}
case $OSD_GB in
'' | *[!0-9]*) srv_say "STEPFS_SERVERS_OSD_GB='$OSD_GB': a whole number of GiB expected"; exit 1 ;;
esac
[ "$OSD_GB" -ge 2 ] || { srv_say "STEPFS_SERVERS_OSD_GB=$OSD_GB: at least 2 expected"; exit 1; }
# down.sh only removes a directory carrying this marker
echo "stepfs test servers; stop with: STEPFS_SERVERS_DIR=$DIR $here/down.sh" >"$DIR/.stepfs-servers"
mkdir -p "$DIR/log" "$DIR/run" "$DIR/mon.a" "$DIR/osd.0" "$DIR/rgw.a"

fail() {
	local f
	srv_say "start-up failed: $*"
	for f in "$DIR"/log/*; do
		[ -s "$f" ] || continue
		echo "----- tail of $f" >&2
		tail -n 25 "$f" >&2
	done
	if [ "${STEPFS_SERVERS_KEEP:-0}" = 1 ]; then
		srv_say "kept '$DIR' (STEPFS_SERVERS_KEEP=1)"
	else
		STEPFS_SERVERS_DIR=$DIR "$here/down.sh" >&2 || true
		# ports are checked, not held, so a concurrent starter can take one
		# first: try once more, on other ports
		if [ -z "${STEPFS_SERVERS_RETRIED:-}" ]; then
			srv_say "trying once more"
			trap - ERR
			STEPFS_SERVERS_RETRIED=1 exec "$0"
		fi
	fi
	exit 1
}
trap 'fail "command failed at line $LINENO"' ERR

# ports: mon v2, mon v1, rgw, s3rver, then the daemons' messenger range
base=$(srv_pick_ports 24) || fail "no free ports"
MON2=$base MON1=$((base + 1)) RGWPORT=$((base + 2)) S3RVERPORT=$((base + 3))
MSMIN=$((base + 4)) MSMAX=$((base + 23))
echo "$RGWPORT" >"$DIR/rgw.port"
FSID=$(cat /proc/sys/kernel/random/uuid)

cat >"$DIR/ceph.conf" <<EOF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON2,v1:127.0.0.1:$MON1]
mon initial members = a
public network = 127.0.0.0/8
public addr = 127.0.0.1
ms bind ipv6 = false
ms bind ipv4 = true
ms bind port min = $MSMIN
ms bind port max = $MSMAX
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $DIR/client.admin.keyring
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
log to stderr = false
err to stderr = false
log to syslog = false
mon cluster log file = $DIR/log/cluster.log
crash dir = $DIR/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 5
# one monitor: no need to batch map updates for a second; with the default 1 s
# every pool radosgw creates waits for a proposal round (start 18 s -> 7 s)
paxos propose interval = 0.1
paxos min wait = 0.01
mon data avail crit = 1
mon max pg per osd = 1000
osd crush chooseleaf type = 0
osd memory target = 943718400
bluestore cache autotune = false
bluestore cache size = 268435456

[mon]
mon data = $DIR/\$name

[osd]
osd data = $DIR/\$name
osd objectstore = bluestore
bluestore block path = $DIR/\$name/block.file
bluestore block create = true
bluestore block size = $((OSD_GB << 30))
bluestore block db create = false
bluestore block wal create = false
osd op num shards = 1
osd op num threads per shard = 2
osd max object size = 1073741824

[client.rgw.a]
rgw data = $DIR/rgw.a
rgw frontends = beast endpoint=127.0.0.1:$RGWPORT
rgw dns name = localhost
rgw thread pool size = 64
rgw gc obj min wait = 10
rgw gc processor period = 10
EOF
CEPH=(ceph -c "$DIR/ceph.conf" --connect-timeout 30)

# 1. keyrings
ceph-authtool --create-keyring "$DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$DIR/client.admin.keyring" --gen-key -n client.admin \
	--cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$DIR/mon.keyring" --import-keyring "$DIR/client.admin.keyring" >/dev/null

# 2. monitor
monmaptool --create --addv a "[v2:127.0.0.1:$MON2,v1:127.0.0.1:$MON1]" --fsid "$FSID" \
	"$DIR/monmap" >/dev/null
ceph-mon -c "$DIR/ceph.conf" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/mon.keyring" \
	</dev/null >>"$DIR/log/setup.out" 2>&1
ceph-mon -c "$DIR/ceph.conf" -i a </dev/null >>"$DIR/log/mon.out" 2>&1
srv_say "mon up on 127.0.0.1:$MON2 ($DIR)"

# 3. OSD (bluestore on a sparse file)
OSDUUID=$(cat /proc/sys/kernel/random/uuid)
printf '{"cephx_secret": "%s"}\n' "$(ceph-authtool --gen-print-key)" >"$DIR/osd.0/new.json"
id=$(timeout 60 "${CEPH[@]}" osd new "$OSDUUID" -i "$DIR/osd.0/new.json" 2>>"$DIR/log/setup.out")
[ "$id" = 0 ] || fail "'ceph osd new' gave id '$id', expected 0"
ceph-authtool --create-keyring "$DIR/osd.0/keyring" -n osd.0 \
	--add-key "$(sed -n 's/.*"cephx_secret": "\(.*\)".*/\1/p' "$DIR/osd.0/new.json")" >/dev/null
rm -f "$DIR/osd.0/new.json"
ceph-osd -c "$DIR/ceph.conf" -i 0 --mkfs --osd-uuid "$OSDUUID" --keyring "$DIR/osd.0/keyring" \
	</dev/null >>"$DIR/log/setup.out" 2>&1
ceph-osd -c "$DIR/ceph.conf" -i 0 --keyring "$DIR/osd.0/keyring" </dev/null >>"$DIR/log/osd.out" 2>&1
srv_say "osd.0 started"

# 4. radosgw, its user and the bucket
timeout 60 "${CEPH[@]}" auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' \
	-o "$DIR/rgw.keyring" 2>>"$DIR/log/setup.out"
srv_rgw_start "$DIR" 120 || fail "radosgw did not come up"
srv_say "radosgw answers on 127.0.0.1:$RGWPORT"
timeout 60 radosgw-admin -c "$DIR/ceph.conf" user create --uid=test --display-name=test \
	--access-key="$AK" --secret="$SK" >>"$DIR/log/setup.out" 2>&1
code=$(curl -s -o "$DIR/log/bucket.out" -w '%{http_code}' -X PUT -u "$AK:$SK" \
	--aws-sigv4 "aws:amz:us-east-1:s3" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
	"http://127.0.0.1:$RGWPORT/$BUCKET")
[ "$code" = 200 ] || fail "creating bucket '$BUCKET' gave HTTP $code"

# 5. s3rver (optional)
S3RVER_ENV=
s3rver_js=$top/build/npm/node_modules/s3rver/bin/s3rver.js
if [ "${STEPFS_NO_S3RVER:-0}" != 1 ] && [ -f "$s3rver_js" ] && command -v node >/dev/null; then
	nodeopt=
	node --openssl-legacy-provider -e 0 2>/dev/null && nodeopt=--openssl-legacy-provider
	mkdir -p "$DIR/s3rver"
	setsid node $nodeopt "$s3rver_js" -d "$DIR/s3rver" -a 127.0.0.1 -p "$S3RVERPORT" \
		--configure-bucket "$BUCKET" </dev/null >>"$DIR/log/s3rver.out" 2>&1 &
	echo $! >"$DIR/run/s3rver.pid"
	for ((i = 0; i < 100; i++)); do
		code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$S3RVERPORT/" || true)
		case $code in 000 | '') sleep 0.1 ;; *) break ;; esac
	done
	if [ "$code" = 200 ]; then
		S3RVER_ENV=1
		srv_say "s3rver answers on 127.0.0.1:$S3RVERPORT"
	else
		srv_say "warning: s3rver did not start (HTTP '$code'); see $DIR/log/s3rver.out"
		srv_stop_pidfile "$DIR/run/s3rver.pid" "$DIR" 5
	fi
else
	srv_say "s3rver not started (not installed in build/npm or STEPFS_NO_S3RVER=1)"
fi
trap - ERR

ms=$((($(date +%s%N) - T0) / 1000000))
srv_say "ready in $((ms / 1000)).$(printf %03d $((ms % 1000)))s"
env_vars=(STEPFS_TEST_S3_ENDPOINT="http://127.0.0.1:$RGWPORT" STEPFS_TEST_S3_ACCESS_KEY="$AK"
	STEPFS_TEST_S3_SECRET_KEY="$SK" STEPFS_TEST_S3_BUCKET="$BUCKET" STEPFS_TEST_S3_REGION=us-east-1
	STEPFS_SERVERS_DIR="$DIR")
if [ -n "$S3RVER_ENV" ]; then
	env_vars+=(STEPFS_TEST_S3RVER_ENDPOINT="http://127.0.0.1:$S3RVERPORT"
		STEPFS_TEST_S3RVER_ACCESS_KEY=S3RVER STEPFS_TEST_S3RVER_SECRET_KEY=S3RVER
		STEPFS_TEST_S3RVER_BUCKET="$BUCKET")
fi
# DIR/env: plain NAME=VALUE lines (for tools); stdout: shell-quoted exports
printf '%s\n' "${env_vars[@]}" >"$DIR/env"
for v in "${env_vars[@]}"; do
	printf 'export %s=%q\n' "${v%%=*}" "${v#*=}"
done
