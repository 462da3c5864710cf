#!/usr/bin/env bash
# tests/servers/rgw.sh stop|start [DIR]: stop or (re)start only the radosgw of
# the cluster that tests/servers/up.sh started in DIR (default
# $STEPFS_SERVERS_DIR), on the same port. For fault tests ("server gone
# during an upload"); mon and OSD keep running, so a restart takes seconds.
# start waits until radosgw answers HTTP again.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/servers/common.sh
. "$here/common.sh"
DIR=${2:-${STEPFS_SERVERS_DIR:-}}
if [ -z "$DIR" ] || [ ! -f "$DIR/.stepfs-servers" ]; then
	srv_say "usage: rgw.sh stop|start DIR (a state directory of up.sh, or set STEPFS_SERVERS_DIR)"
	exit 2
fi
DIR=$(cd "$DIR" && pwd)
case ${1:-} in
stop) srv_rgw_stop "$DIR" 20 ;;
start)
	if [ -f "$DIR/run/client.rgw.a.pid" ] && kill -0 "$(cat "$DIR/run/client.rgw.a.pid")" 2>/dev/null; then
		srv_say "radosgw already running"
		exit 0
	fi
	srv_rgw_start "$DIR" 60 || { tail -n 25 "$DIR/log/client.rgw.a.log" >&2; exit 1; }
	;;
*) srv_say "usage: rgw.sh stop|start [DIR]"; exit 2 ;;
esac
