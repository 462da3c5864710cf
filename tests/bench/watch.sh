#!/usr/bin/env bash
# tests/bench/watch.sh: drop-folder mode against the classic shell answer, on
# the same machine, in the same run, on the same bursts:
#
#   stepfs    `stepfs watch DIR --config ...` (journal on disk, synchronous=
#             FULL), one rule starting an Express machine whose one Task is
#             tests/helper_stamp (a process per file)
#   inotify   inotifywait -m -r -e close_write,moved_to --format '%w%f' DIR |
#             while read f; do helper_stamp; done   (a process per file)
#
# Both tasks take the wall clock as their first action, so latency is
# close() -> task start. Bursts: 4 writer threads, each starting a new
# subdirectory every PER_DIR files (mkdir -p + immediate write). Missed and
# duplicated files are counted exactly, by comparing the set of files
# written with the set of task invocations (tests/bench/watch_stats.py).
# A paced run (one writer, 5 ms between files) shows the detection latency
# without queueing; stepfs's includes its quiet period (QUIET ms).
#
# Not part of `make check`. Environment: SIZES ("2000 20000"), PACED (300),
# PER_DIR (250), QUIET (200, stepfs --quiet-ms), Q (16384, the inotify queue
# length, set while each watcher starts), SETTLE (15 s without progress ends
# a run), O (build dir), STEPFS_BIN (the stepfs to measure; default $O/stepfs).
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$PWD
O=${O:-build/default}
SIZES=${SIZES:-2000 20000}
PACED=${PACED:-300}
PER_DIR=${PER_DIR:-250}
QUIET=${QUIET:-200}
Q=${Q:-16384}
SETTLE=${SETTLE:-15}
BIN=${STEPFS_BIN:-$TOP/$O/stepfs}
STAMP=$TOP/$O/tests/helper_stamp
B=$TOP/tests/bench
make -s "$O/stepfs" "$O/tests/helper_stamp" >&2
command -v inotifywait >/dev/null || { echo "inotifywait missing (apt-get install inotify-tools)"; exit 77; }
W=$(mktemp -d /var/tmp/stepfs-bench-watch-XXXX)
QF=/proc/sys/fs/inotify/max_queued_events
OLDQ=$(cat $QF)
PIDS=()
cleanup() {
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -w $QF ] && echo "$OLDQ" >$QF
	rm -rf "$W"
}
trap cleanup EXIT
# the queue length is read when an inotify instance is created
setq() { [ -w $QF ] && echo "$1" >$QF || true; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); files and journal on $(df -T "$W" | awk 'NR == 2 { print $2 }')"
echo "inotify queue: $Q events (max_queued_events, set for each watcher); stepfs --quiet-ms $QUIET"

cat >"$W/stamp.asl.json" <<J
{"StartAt": "Stamp", "States": {"Stamp": {"Type": "Task", "Resource": "exec:$STAMP", "End": true}}}
J

lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
# wait_for FILE N: until FILE has N lines or SETTLE seconds pass without growth
wait_for() {
	local f=$1 n=$2 last=-1 since now c
	since=$(date +%s)
	while :; do
		c=$(lines "$f")
		[ "$c" -ge "$n" ] && return 0
		now=$(date +%s)
		if [ "$c" != "$last" ]; then last=$c; since=$now; fi
		[ $((now - since)) -ge "$SETTLE" ] && return 0
		sleep 0.2
	done
}

# run_stepfs NAME N THREADS PACE
run_stepfs() {
	local name=$1 n=$2 th=$3 pace=$4 d=$W/$1-stepfs pid
	mkdir -p "$d/drop"
	cat >"$d/cfg.json" <<J
{"Journal": "$d/journal.db", "IncludeLocalPath": false,
 "StateMachines": {"stamp": {"Definition": "$W/stamp.asl.json", "Type": "EXPRESS"}},
 "NotificationConfiguration": {"StateMachineConfigurations": [
   {"Id": "all", "StateMachine": "stamp", "Events": ["s3:ObjectCreated:*"]}]},
 "Limits": {"QueueSize": 100000},
 "tasks": {"env": {"STAMPS": "$d/stamps"}}}
J
	setq "$Q"
	"$BIN" watch "$d/drop" --config "$d/cfg.json" --quiet-ms "$QUIET" 2>"$d/log" &
	pid=$!
	PIDS+=($pid)
	sleep 1
	setq "$OLDQ"
	python3 "$B/watch_writer.py" "$d/drop" "$n" "$d/closes" "$th" "$PER_DIR" "$pace"
	wait_for "$d/stamps" "$n"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	python3 "$B/watch_stats.py" "$d/closes" "$d/stamps" "$d/drop" stepfs | tee "$d/result"
	{ grep -c overflowed "$d/log" || true; } | sed 's/^/          inotify overflows logged by stepfs: /'
}

# run_inotify NAME N THREADS PACE
run_inotify() {
	local name=$1 n=$2 th=$3 pace=$4 d=$W/$1-inotify ipid lpid
	mkdir -p "$d/drop"
	mkfifo "$d/fifo"
	setq "$Q"
	inotifywait -q -m -r -e close_write,moved_to --format '%w%f' "$d/drop" >"$d/fifo" 2>"$d/log" &
	ipid=$!
	PIDS+=($ipid)
	while read -r f; do
		STAMPS=$d/stamps "$STAMP" <<<"{\"key\": \"$f\"}" >/dev/null
	done <"$d/fifo" &
	lpid=$!
	PIDS+=($lpid)
	sleep 1
	setq "$OLDQ"
	python3 "$B/watch_writer.py" "$d/drop" "$n" "$d/closes" "$th" "$PER_DIR" "$pace"
	wait_for "$d/stamps" "$n"
	kill "$ipid" "$lpid" 2>/dev/null || true
	wait "$ipid" "$lpid" 2>/dev/null || true
	python3 "$B/watch_stats.py" "$d/closes" "$d/stamps" "$d/drop" inotify | tee "$d/result"
	{ grep -ci overflow "$d/log" || true; } | sed 's/^/          overflow messages from inotifywait: /'
}

field() { sed 's/.*|//' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print('%.2f' % (a / b) if b else 'n/a')" "$1" "$2"; }

echo
echo "paced: $PACED files, one writer, 5 ms after each close"
run_stepfs paced "$PACED" 1 0.005
run_inotify paced "$PACED" 1 0.005
for n in $SIZES; do
	echo
	echo "burst: $n files, 4 writers, a new subdirectory every $PER_DIR files per writer"
	run_stepfs "b$n" "$n" 4 0
	run_inotify "b$n" "$n" 4 0
	s=$W/b$n-stepfs/result i=$W/b$n-inotify/result
	echo "          stepfs/inotify: files/s x$(ratio "$(field "$s" rate)" "$(field "$i" rate)")," \
		"p50 x$(ratio "$(field "$s" p50)" "$(field "$i" p50)")," \
		"p99 x$(ratio "$(field "$s" p99)" "$(field "$i" p99)");" \
		"missed $(field "$s" missed) vs $(field "$i" missed)"
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
