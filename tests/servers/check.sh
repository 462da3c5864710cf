#!/usr/bin/env bash
# tests/servers/check.sh [--repair] [DIR]: is the Ceph cluster that
# tests/servers/up.sh started in DIR (default $STEPFS_SERVERS_DIR) usable?
#
# Healthy: ceph-mon, ceph-osd and radosgw run, radosgw answers a signed bucket
# listing (which reads from the OSD) with HTTP 200 within 10 s, and the OSD is
# less than 95 % full (its allocator, or the monitor's OSD_FULL). Then nothing
# is printed (one line when the OSD is more than 85 % full) and the exit
# status is 0.
#
# Otherwise a diagnosis is printed: the HTTP status, which of ceph-mon,
# ceph-osd and radosgw run, `ceph health detail` (15 s timeout), and the error
# lines and the last 30 lines of the logs of the dead daemons (of radosgw and
# the OSD when all run). With --repair the dead daemons are started again
# (mon, OSD, radosgw; when all run but none answers, radosgw is restarted,
# then the OSD too) on the same data and ports, and the probe is repeated. An
# OSD that died of ENOSPC is not restarted: a full BlueStore does not mount
# again (bluefs enospc), the cluster must be replaced (tests/run.sh does).
#
# Exit status: 0 healthy; 3 was broken, repaired (answers now); 4 the OSD is
# full (writes hang: nothing to repair, the data must go); 5 repaired, but the
# OSD is full; 1 broken and not repaired; 2 usage (or DIR is gone).
# Everything goes to stdout, each line "servers: ...".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/servers/common.sh
. "$here/common.sh"

NEAR_PCT=85 FULL_PCT=95
# error lines of a Ceph log: level -1 entries (not their copies in a crash
# dump, which are indented), failed asserts and aborts
ERR_RE='^[0-9][-0-9T:.+]+ [0-9a-f]+ -1 |^\./src/.*(ceph_abort|ceph_assert)|^\*\*\* Caught signal'

repair=
if [ "${1:-}" = --repair ]; then
	repair=1
	shift
fi
DIR=${1:-${STEPFS_SERVERS_DIR:-}}
if [ -z "$DIR" ] || [ ! -f "$DIR/.stepfs-servers" ]; then
	echo "servers: check.sh: '${DIR:-}' is not a state directory of tests/servers/up.sh" \
		"(was it removed?)"
	exit 2
fi
DIR=$(cd "$DIR" && pwd)
say() { echo "servers: $*"; }
CEPH=(timeout 15 ceph -c "$DIR/ceph.conf" --connect-timeout 10)

# osd_full: 0 and a message if the OSD is past FULL_PCT; says so past NEAR_PCT
osd_full() {
	local pct health
	pct=$(srv_osd_used "$DIR") || pct=0
	# the monitor's view: OSD_FULL (also an injected one) is "N full osd(s)"
	health=$("${CEPH[@]}" health 2>/dev/null)
	if [ "$pct" -ge "$FULL_PCT" ] || [[ $health == *" full osd"* ]]; then
		say "osd.0 is FULL ($pct % of its $(($(stat -c %s "$DIR/osd.0/block.file") >> 30)) GiB" \
			"block file, STEPFS_SERVERS_OSD_GB; monitor: ${health:-no answer}): Ceph stops" \
			"writes at $FULL_PCT % and radosgw then HANGS on every write instead of failing it"
		return 0
	fi
	[ "$pct" -ge "$NEAR_PCT" ] &&
		say "warning: osd.0 is $pct % full; at $FULL_PCT % every write to the test server hangs" \
			"(tests that leave big objects behind, or a too small STEPFS_SERVERS_OSD_GB)"
	return 1
}

# diagnose HTTP-CODE: what runs, what the monitor says, the logs of the dead
# daemons (of radosgw and the OSD when none is dead)
diagnose() {
	local n log dead=()
	say "S3 test server $(srv_env "$DIR" STEPFS_TEST_S3_ENDPOINT) ($DIR):" \
		"signed bucket listing gave HTTP $1$([ "$1" = 000 ] && echo " (refused, or no answer within 10 s)")"
	for n in mon.a osd.0 client.rgw.a; do
		if srv_alive "$DIR" "$n"; then
			say "  $n: running (pid $(cat "$DIR/run/$n.pid"))"
		else
			say "  $n: NOT running"
			dead+=("$n")
		fi
	done
	say "  ceph health detail:"
	"${CEPH[@]}" health detail 2>&1 | head -n 15 | sed 's/^/servers:     /'
	[ "${PIPESTATUS[0]}" = 0 ] || say "    (no answer from the monitor within 15 s)"
	[ ${#dead[@]} -gt 0 ] || dead=(client.rgw.a osd.0)
	for n in "${dead[@]}"; do
		case $n in
		mon.a) set -- mon.a.log mon.out ;;
		osd.0) set -- osd.0.log osd.out ;;
		*) set -- client.rgw.a.log radosgw.out ;;
		esac
		for log in "$@"; do
			[ -s "$DIR/log/$log" ] || continue
			# a crash ends in a dump of recent events: its errors come first
			if grep -qE "$ERR_RE" "$DIR/log/$log"; then
				say "  ----- last error lines of $DIR/log/$log"
				grep -E "$ERR_RE" "$DIR/log/$log" | tail -n 12 | cut -c1-400 | sed 's/^/servers:     /'
			fi
			grep -q 'No space left on device' "$DIR/log/$log" &&
				say "  $n ran OUT OF SPACE (ENOSPC): the test data outgrew the OSD's block file" \
					"(STEPFS_SERVERS_OSD_GB)"
			say "  ----- last 30 lines of $DIR/log/$log"
			tail -n 30 "$DIR/log/$log" | cut -c1-400 | sed 's/^/servers:     /'
		done
	done
}

# wait_probe SECONDS: wait for HTTP 200 from the probe
wait_probe() {
	local end=$((SECONDS + $1))
	while [ "$SECONDS" -lt "$end" ]; do
		[ "$(srv_s3_probe "$DIR" 5)" = 200 ] && return 0
		sleep 1
	done
	return 1
}

all_alive() {
	srv_alive "$DIR" mon.a && srv_alive "$DIR" osd.0 && srv_alive "$DIR" client.rgw.a
}

code=$(srv_s3_probe "$DIR" 10)
if [ "$code" = 200 ] && all_alive; then
	osd_full && exit 4
	exit 0
fi
diagnose "$code"
if osd_full; then
	exit 4
fi
[ -n "$repair" ] || exit 1

# ok: it answers again after restarting $restarted
ok() {
	say "RESTARTED ${restarted[*]}: the S3 test server answers again"
	osd_full && exit 5
	exit 3
}
give_up() {
	say "$*; giving up on this cluster"
	exit 1
}
if ! srv_alive "$DIR" osd.0 && grep -qE 'No space left on device|bluefs enospc' "$DIR/log/osd.0.log"; then
	give_up "osd.0 died OUT OF SPACE: a full BlueStore does not mount again"
fi
restarted=()
if ! srv_alive "$DIR" mon.a; then
	srv_mon_start "$DIR" || give_up "ceph-mon would not start (log above)"
	restarted+=(ceph-mon)
fi
if ! srv_alive "$DIR" osd.0; then
	srv_osd_start "$DIR" || give_up "ceph-osd would not start (log above)"
	restarted+=(ceph-osd)
fi
if ! srv_alive "$DIR" client.rgw.a; then
	srv_rgw_start "$DIR" 60 || give_up "radosgw would not start (log above)"
	restarted+=(radosgw)
fi
if [ ${#restarted[@]} -gt 0 ]; then
	wait_probe 60 && all_alive && ok
	give_up "restarted ${restarted[*]} but the server still does not answer"
fi
# everything runs but it does not answer: radosgw first, then the OSD too
say "all run, none answers: restarting radosgw"
srv_rgw_stop "$DIR" 20
srv_rgw_start "$DIR" 60 && restarted+=(radosgw) && wait_probe 30 && ok
say "still no answer: restarting ceph-osd and radosgw"
srv_rgw_stop "$DIR" 20
srv_stop_pidfile "$DIR/run/osd.0.pid" "$DIR" 30
srv_osd_start "$DIR" || give_up "ceph-osd would not start"
restarted+=(ceph-osd)
srv_rgw_start "$DIR" 60 || give_up "radosgw would not start"
wait_probe 60 && ok
give_up "restarted ${restarted[*]} but the server still does not answer"
