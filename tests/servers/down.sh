#!/usr/bin/env bash
# tests/servers/down.sh [DIR]: stop the test servers that tests/servers/up.sh
# started in DIR (default $STEPFS_SERVERS_DIR): SIGTERM to s3rver, radosgw,
# the OSD and the monitor through their pid files, wait for each to exit
# (SIGKILL after 20 s), then remove DIR. A directory without up.sh's marker
# file is never removed. STEPFS_SERVERS_KEEP_DIR=1 keeps DIR (logs).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/servers/common.sh
. "$here/common.sh"

DIR=${1:-${STEPFS_SERVERS_DIR:-}}
if [ -z "$DIR" ]; then
	srv_say "usage: down.sh DIR (or set STEPFS_SERVERS_DIR)"
	exit 2
fi
if [ ! -f "$DIR/.stepfs-servers" ]; then
	srv_say "'$DIR' is not a state directory of tests/servers/up.sh; not touching it"
	exit 1
fi
DIR=$(cd "$DIR" && pwd)
srv_stop_pidfile "$DIR/run/s3rver.pid" "$DIR" 10
srv_stop_pidfile "$DIR/run/client.rgw.a.pid" "$DIR" 20
srv_stop_pidfile "$DIR/run/osd.0.pid" "$DIR" 30
srv_stop_pidfile "$DIR/run/mon.a.pid" "$DIR" 20
if [ "${STEPFS_SERVERS_KEEP_DIR:-0}" = 1 ]; then
	srv_say "stopped; kept '$DIR'"
else
	rm -rf "$DIR"
	srv_say "stopped and removed '$DIR'"
fi
