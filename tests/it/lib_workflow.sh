# tests/it/lib_workflow.sh: end-to-end helpers for workflows/*/test.sh.
# Source it (bash -e). It runs the workflow's real configuration, with its
# journal moved into a temp dir, through either a real FUSE mount of a
# local-directory bucket (wf_start mount) or the drop-folder watcher
# (wf_start watch), then waits for executions in the journal.
#
# After wf_start: $WF_ROOT is where files are dropped (the mount point or the
# watched dir), $WF_BUCKET the bucket dir, $WF_JOURNAL the journal.

WF_BIN=${STEPFS_BIN:-$PWD/build/default/stepfs}
WF_TMP=$(mktemp -d "${TMPDIR:-/tmp}/stepfs-wf-XXXXXX")
WF_PID=
WF_MODE=
WF_BUCKET=$WF_TMP/bucket
WF_JOURNAL=$WF_TMP/journal.db
wf_passed=0
wf_failed=0

wf_cleanup() {
	if [ -n "$WF_PID" ]; then
		if [ "$WF_MODE" = mount ]; then
			fusermount3 -u "$WF_TMP/mnt" 2>/dev/null || umount -l "$WF_TMP/mnt" 2>/dev/null || true
		fi
		kill "$WF_PID" 2>/dev/null || true
		wait "$WF_PID" 2>/dev/null || true
	fi
	WF_PID=
}
trap 'wf_cleanup; rm -rf "$WF_TMP"' EXIT

wf_check() { # description command...
	local what=$1
	shift
	if "$@"; then
		wf_passed=$((wf_passed + 1)); echo "ok   $what"
	else
		wf_failed=$((wf_failed + 1)); echo "FAIL $what"
	fi
}

# wf_reset: an empty bucket, journal and spool (between modes of one test)
wf_reset() {
	rm -rf "$WF_BUCKET" "$WF_TMP/spool" "$WF_TMP"/journal.db*
	mkdir -p "$WF_BUCKET"
}

wf_done() {
	echo "$wf_passed passed, $wf_failed failed"
	[ "$wf_failed" = 0 ]
}

# wf_config SRC_CONFIG [jq filter]: a copy of the workflow's config with the
# journal in the temp dir and definitions resolved against the workflow dir
wf_config() {
	local src=$1 filter=${2:-.} dir
	dir=$(cd "$(dirname "$src")" && pwd)
	jq --arg j "$WF_TMP/journal.db" --arg d "$dir/" "
		.Journal = \$j |
		.StateMachines |= with_entries(.value.Definition = (\$d + .value.Definition)) |
		$filter" "$src" > "$WF_TMP/stepfs.json"
	echo "$WF_TMP/stepfs.json"
}

# wf_start mount|watch CONFIG [extra args] (mount: exit 77 without /dev/fuse)
wf_start() {
	local mode=$1 cfg=$2 i
	shift 2
	WF_MODE=$mode
	mkdir -p "$WF_BUCKET" "$WF_TMP/mnt"
	if [ "$mode" = mount ]; then
		[ -e /dev/fuse ] || { echo "no /dev/fuse"; exit 77; }
		WF_ROOT=$WF_TMP/mnt
		"$WF_BIN" mount "$WF_BUCKET" "$WF_ROOT" -f -o "config=$cfg,spool=$WF_TMP/spool" "$@" \
			>"$WF_TMP/daemon.log" 2>&1 &
		WF_PID=$!
		for i in $(seq 1 100); do
			mountpoint -q "$WF_ROOT" && break
			kill -0 "$WF_PID" 2>/dev/null || break
			sleep 0.1
		done
		mountpoint -q "$WF_ROOT" || { cat "$WF_TMP/daemon.log"; echo "mount did not come up"; return 1; }
	else
		WF_ROOT=$WF_BUCKET
		"$WF_BIN" watch "$WF_ROOT" --config "$cfg" --quiet-ms 100 "$@" >"$WF_TMP/daemon.log" 2>&1 &
		WF_PID=$!
		sleep 0.5
		kill -0 "$WF_PID" 2>/dev/null || { cat "$WF_TMP/daemon.log"; echo "watch did not start"; return 1; }
	fi
}

wf_stop() {
	wf_cleanup
}

# wf_executions [STATUS]: JSON list of executions (all, or with STATUS)
wf_executions() {
	"$WF_BIN" executions list --journal "$WF_JOURNAL" --json ${1:+--status-filter "$1"} 2>/dev/null ||
		echo '{"executions":[]}'
}

# wf_wait_ended N [timeout_s [poll_s]]: until N executions have ended (not RUNNING)
wf_wait_ended() {
	local n=$1 t=${2:-60} poll=${3:-0.1} end ended
	end=$(($(date +%s) + t))
	while [ "$(date +%s)" -lt "$end" ]; do
		ended=$(wf_executions | jq '[.executions[] | select(.status != "RUNNING")] | length')
		[ "${ended:-0}" -ge "$n" ] && return 0
		sleep "$poll"
	done
	echo "timed out waiting for $n ended executions; have:"
	wf_executions | jq -c '.executions[] | {name, status}'
	tail -n 30 "$WF_TMP/daemon.log"
	return 1
}

# wf_count STATUS: number of executions with STATUS
wf_count() {
	wf_executions "$1" | jq '.executions | length'
}

# wf_history NAME: the history events of an execution
wf_history() {
	"$WF_BIN" executions history "$1" --journal "$WF_JOURNAL" --json
}
