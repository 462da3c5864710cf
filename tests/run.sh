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
	server_started=
	if [ -x tests/servers/up.sh ] && [ -z "${STEPFS_TEST_S3_ENDPOINT:-}" ]; then
		envfile=$(mktemp)
		if tests/servers/up.sh >"$envfile"; then
			# shellcheck disable=SC1090
			. "$envfile"; server_started=1
		else
			echo "note: tests/servers/up.sh failed; S3 integration tests will skip (fail under CI)"
		fi
		rm -f "$envfile"
	fi
	for s in tests/it/*.sh workflows/*/test.sh; do
		[ -f "$s" ] || continue
		case $s in tests/it/lib*.sh | tests/it/*_lib.sh) continue ;; esac # sourced helpers
		[ -n "${STEPFS_IT_FILTER:-}" ] && ! [[ $s =~ $STEPFS_IT_FILTER ]] && continue
		run_one it "$s" "${IT_TIMEOUT:-900}" bash "$s"
	done
	[ -n "$server_started" ] && tests/servers/down.sh >/dev/null 2>&1
fi

if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
[ "$skipped" != 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
