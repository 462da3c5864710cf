#!/usr/bin/env bash
# tests/run.sh: run every unit-test binary given as an argument, then (unless
# STEPFS_ONLY_UNIT=1) every integration script tests/it/*.sh, each under
# timeout(1), and print the summed "N passed, N failed" line last.
#
# A unit binary prints its own "N passed, N failed" line; those are summed.
# An integration script counts as one test by its exit status (0 pass,
# 77 skip, anything else fail) unless it prints its own summary line, which is
# then summed too. Under CI=true a skip counts as a failure: a green CI run never
# hides a FUSE or S3-server test.
#
# S3 test server: started once with tests/servers/up.sh unless
# STEPFS_TEST_S3_ENDPOINT is already set (then that server is used, and said
# so; one that does not answer is replaced by our own). Ours is checked before
# every script and after the last (tests/servers/check.sh): one that broke is
# diagnosed and counted as a failure of the script it broke under, then
# restarted (the output says RESTARTED) or, when that cannot help (a full or
# ENOSPC-crashed OSD), replaced by a new cluster, so the other scripts run and
# do not hang on a full OSD. Server logs of a failed run (and of a replaced
# cluster) are copied to $STEPFS_TEST_LOGS (default build/test-logs), path printed.
#
# Environment: O (build dir, default build/default), UNIT_TIMEOUT (s, 600),
# IT_TIMEOUT (s, 900), STEPFS_IT_FILTER (regex on script names).
set -u
cd "$(dirname "$0")/.."
O=${O:-build/default}
export O STEPFS_BIN="$PWD/$O/stepfs"
passed=0 failed=0 skipped=0
failures=()

sum_line() { # file -> "P F" from the last summary line, or nothing
	grep -aE '^([A-Za-z_-]+: )?[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1 |
		sed -E 's/^([A-Za-z_-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2 \3/'
}

run_one() { # kind name timeout cmd...
	local kind=$1 name=$2 t=$3 log rc pf
	shift 3
	log=$(mktemp)
	timeout -k 10 "$t" "$@" >"$log" 2>&1
	rc=$?
	pf=$(sum_line "$log")
	if [ "$rc" = 77 ]; then
		if [ "${CI:-}" = true ]; then
			failed=$((failed + 1)); failures+=("$name (skipped under CI)")
			echo "FAIL $name: skipped, but CI=true requires it"; tail -n 20 "$log"
		else
			skipped=$((skipped + 1)); echo "SKIP $name"
		fi
	elif [ -n "$pf" ]; then
		set -- $pf
		passed=$((passed + $1)); failed=$((failed + $2))
		if [ "$rc" != 0 ] || [ "$2" != 0 ]; then
			[ "$2" = 0 ] && failed=$((failed + 1))
			failures+=("$name")
			echo "FAIL $name (exit $rc): $pf"; tail -n 40 "$log"
		else
			echo "ok   $name: $1 checks"
		fi
	elif [ "$rc" = 0 ]; then
		passed=$((passed + 1)); echo "ok   $name"
	else
		failed=$((failed + 1)); failures+=("$name")
		[ "$rc" = 124 ] && echo "FAIL $name: timed out after ${t}s" || echo "FAIL $name (exit $rc)"
		tail -n 40 "$log"
	fi
	rm -f "$log"
}

for t in "$@"; do
	[ -x "$t" ] || continue
	case $t in *.o | *.d) continue ;; esac
	run_one unit "$(basename "$(dirname "$(dirname "$t")")")/$(basename "$t")" "${UNIT_TIMEOUT:-600}" "$t"
done

if [ "${STEPFS_ONLY_UNIT:-0}" != 1 ]; then
	server_started= srv_ok= srv_restarts=() prev=
	srv_up() {
		local envfile
		envfile=$(mktemp)
		if tests/servers/up.sh >"$envfile"; then
			# shellcheck disable=SC1090
			. "$envfile"; server_started=$STEPFS_SERVERS_DIR srv_ok=1
		else
			echo "note: tests/servers/up.sh failed; S3 integration tests will skip (fail under CI)"
		fi
		rm -f "$envfile"
	}
	# srv_keep_logs DIR TAG: copy DIR's server logs where they survive the run
	srv_keep_logs() {
		local keep
		keep=${STEPFS_TEST_LOGS:-build/test-logs}/servers-$(date +%Y%m%d-%H%M%S)-$(basename "$1")-$2
		[ -d "$1/log" ] && mkdir -p "$keep" && cp -a "$1/log/." "$keep/" &&
			echo "servers: logs of $1 kept in $keep"
	}
	# srv_check: is our server still usable? Before each script and after the
	# last; a failure since the last check happened during script $prev. A
	# server that check.sh cannot repair (or whose OSD is full) is replaced
	# by a new cluster, so the remaining scripts still run.
	srv_check() {
		local out rc what
		[ -n "$server_started" ] || return 0
		out=$(tests/servers/check.sh --repair "$server_started" 2>&1)
		rc=$?
		[ -n "$out" ] && printf '%s\n' "$out"
		case $rc in
		0) srv_ok=1; return 0 ;;
		3) what=restarted ;;
		4 | 5) what="its OSD is full: replaced by a new cluster" ;;
		2) what="its state directory is gone: replaced by a new cluster" ;;
		*) what="not repairable: replaced by a new cluster" ;;
		esac
		if [ -n "$srv_ok" ]; then
			# the script failed already: one failure, with the reason
			local n=${#failures[@]}
			if [ "$n" -gt 0 ] && [ "${failures[n - 1]}" = "$prev" ]; then
				failures[n - 1]="$prev (the S3 test server broke during it)"
			else
				failed=$((failed + 1)); failures+=("${prev:-start-up} (the S3 test server broke during it)")
			fi
			srv_restarts+=("after ${prev:-start-up}: $what")
			echo "FAIL ${prev:-start-up}: the S3 test server broke while it ran (diagnosis above; $what)"
		fi
		srv_ok=
		if [ "$rc" = 3 ]; then
			srv_ok=1
			return 0
		fi
		if [ "$rc" != 2 ]; then
			srv_keep_logs "$server_started" replaced
			tests/servers/down.sh "$server_started" >/dev/null 2>&1
		fi
		echo "servers: starting a new cluster in place of $server_started"
		server_started=
		unset STEPFS_SERVERS_DIR
		srv_up
	}
	if [ -n "${STEPFS_TEST_S3_ENDPOINT:-}" ]; then
		echo "servers: using the S3 test server from the environment: $STEPFS_TEST_S3_ENDPOINT" \
			"(STEPFS_TEST_S3_ENDPOINT; not ours: not restarted here)"
		if [ "$(curl -s -o /dev/null -m 10 -w '%{http_code}' "$STEPFS_TEST_S3_ENDPOINT/")" = 000 ]; then
			echo "servers: $STEPFS_TEST_S3_ENDPOINT does not answer; starting servers of our own instead"
			[ -n "${STEPFS_SERVERS_DIR:-}" ] && tests/servers/check.sh "$STEPFS_SERVERS_DIR" 2>&1
			unset STEPFS_SERVERS_DIR $(compgen -e | grep '^STEPFS_TEST_S3')
		fi
	fi
	[ -x tests/servers/up.sh ] && [ -z "${STEPFS_TEST_S3_ENDPOINT:-}" ] && srv_up
	for s in tests/it/*.sh workflows/*/test.sh; do
		[ -f "$s" ] || continue
		case $s in tests/it/lib*.sh | tests/it/*_lib.sh) continue ;; esac # sourced helpers
		[ -n "${STEPFS_IT_FILTER:-}" ] && ! [[ $s =~ $STEPFS_IT_FILTER ]] && continue
		srv_check
		prev=$s
		run_one it "$s" "${IT_TIMEOUT:-900}" bash "$s"
	done
	srv_check
	if [ ${#srv_restarts[@]} -gt 0 ]; then
		echo "servers: the S3 test server broke ${#srv_restarts[@]} time(s): ${srv_restarts[*]}"
	fi
	if [ -n "$server_started" ]; then
		[ "$failed" != 0 ] && srv_keep_logs "$server_started" failed-run
		tests/servers/down.sh "$server_started" >/dev/null 2>&1
	fi
fi

if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
[ "$skipped" != 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
