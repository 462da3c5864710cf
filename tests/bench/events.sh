#!/usr/bin/env bash
# tests/bench/events.sh: the events benchmark, side by side with the usual
# shell answer, on the same machine in the same run:
#
#   stepfs   `stepfs mount -o config=...` (local backend, journal on disk with
#            synchronous=FULL), a rule on *.csv starting an Express state
#            machine whose one Task is tests/helper_stamp
#   inotify  `inotifywait -m -e close_write --format %w%f DIR | while read f;
#            do helper_stamp; done` on a plain directory
#
# 1. latency: N files (1000) written one after another (a 2 ms pause after
#    each close), close() -> task start (the task's first clock read), p50,
#    p90, p99, max
# 2. throughput: M files (2000) written by 4 writers as fast as they can;
#    events/s from the first close to the last execution ended: for stepfs
#    into an Express machine with one Pass state (no process per event), for
#    inotify a spawn of /bin/true per event
#
# Not part of `make check`. Environment: N (1000), M (2000), O (build dir).
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$PWD
O=${O:-build/default}
N=${N:-1000}
M=${M:-2000}
BIN=$TOP/$O/stepfs
STAMP=$TOP/$O/tests/helper_stamp
make -s "$O/stepfs" "$O/tests/helper_stamp" >&2
command -v inotifywait >/dev/null || { echo "inotifywait missing (apt-get install inotify-tools)"; exit 77; }
[ -c /dev/fuse ] || { echo "no /dev/fuse"; exit 77; }
W=$(mktemp -d /var/tmp/stepfs-bench-events-XXXX)
PIDS=()
cleanup() {
	set +e
	mountpoint -q "$W/mnt" && fusermount3 -u "$W/mnt"
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

cat >"$W/writer.py" <<'PY'
import os, sys, threading, time
d, n, out, pace, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
lines = []
def work(t):
    for i in range(t, n, threads):
        name = "f%05d.csv" % i
        fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, b"x\n")
        t0 = time.time_ns()
        os.close(fd)
        lines.append("%d %s\n" % (t0, name))
        if pace:
            time.sleep(pace)
ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
open(out, "w").write("".join(lines))
PY
cat >"$W/stats.py" <<'PY'
import sys
closes = {}
for l in open(sys.argv[1]):
    t, k = l.split()
    closes[k] = int(t)
lat = []
for l in open(sys.argv[2]):
    t, k = l.split()
    k = k.rsplit("/", 1)[-1]
    if k in closes:
        lat.append((int(t) - closes.pop(k)) / 1e6)
lat.sort()
def p(q): return lat[min(len(lat) - 1, int(q * len(lat)))]
print("%-8s n=%d  p50=%.2f ms  p90=%.2f ms  p99=%.2f ms  max=%.2f ms  missing=%d" %
      (sys.argv[3], len(lat), p(0.5), p(0.9), p(0.99), lat[-1], len(closes)))
PY

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "journal and files on $(df -T "$W" | awk 'NR == 2 { print $2 }') ($W)"

# ---- stepfs mount --------------------------------------------------------
mkdir -p "$W/bucket" "$W/mnt" "$W/wf"
cat >"$W/wf/stamp.asl.json" <<J
{"StartAt": "Stamp", "States": {"Stamp": {"Type": "Task", "Resource": "exec:$STAMP", "End": true}}}
J
cat >"$W/wf/pass.asl.json" <<'J'
{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}
J
cat >"$W/wf/stepfs.json" <<J
{"Journal": "$W/journal.db", "IncludeLocalPath": false,
 "StateMachines": {"stamp": {"Definition": "stamp.asl.json", "Type": "EXPRESS"},
                   "pass": {"Definition": "pass.asl.json", "Type": "EXPRESS"}},
 "NotificationConfiguration": {"StateMachineConfigurations": [
   {"Id": "lat", "StateMachine": "stamp", "Events": ["s3:ObjectCreated:*"],
    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "lat/"}]}}},
   {"Id": "tput", "StateMachine": "pass", "Events": ["s3:ObjectCreated:*"],
    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "tput/"}]}}}]},
 "Limits": {"QueueSize": 100000},
 "tasks": {"env": {"STAMPS": "$W/stepfs.stamps"}}}
J
"$BIN" mount "$W/bucket" "$W/mnt" -f -o "config=$W/wf/stepfs.json,spool=$W/spool" 2>"$W/mount.log" &
PIDS+=($!)
for _ in $(seq 100); do mountpoint -q "$W/mnt" && break; sleep 0.1; done
mkdir -p "$W/mnt/lat" "$W/mnt/tput"

# inotifywait misses everything before its watch exists: wait for it to say so
wait_established() {
	for _ in $(seq 500); do grep -q "Watches established" "$1" 2>/dev/null && return 0; sleep 0.01; done
	echo "inotifywait did not start" >&2
	return 1
}

count_done() { sqlite3 "$W/journal.db" "SELECT count(*) FROM executions WHERE state_machine = '$1' AND status != 'RUNNING'"; }
wait_done() { # sm n
	for _ in $(seq 6000); do [ "$(count_done "$1")" -ge "$2" ] && return 0; sleep 0.01; done
	echo "timed out waiting for $2 executions of $1" >&2
	return 1
}

echo
echo "1. close() -> task start, $N files, one writer, 2 ms between files"
python3 "$W/writer.py" "$W/mnt/lat" "$N" "$W/stepfs.closes" 0.002 1
wait_done stamp "$N"
python3 "$W/stats.py" "$W/stepfs.closes" "$W/stepfs.stamps" stepfs

# inotifywait writes into a fifo; the loop reads it (both pids known, for cleanup)
mkdir -p "$W/plain"
mkfifo "$W/fifo1"
inotifywait -m -e close_write --format '%w%f' "$W/plain" >"$W/fifo1" 2>"$W/ino1.err" &
PIDS+=($!)
while read -r f; do
	STAMPS=$W/inotify.stamps "$STAMP" <<<"{\"key\": \"$f\"}" >/dev/null
done <"$W/fifo1" &
PIDS+=($!)
wait_established "$W/ino1.err"
python3 "$W/writer.py" "$W/plain" "$N" "$W/inotify.closes" 0.002 1
for _ in $(seq 1000); do [ "$(wc -l <"$W/inotify.stamps" 2>/dev/null || echo 0)" -ge "$N" ] && break; sleep 0.01; done
python3 "$W/stats.py" "$W/inotify.closes" "$W/inotify.stamps" inotify

echo
echo "2. throughput, $M files, 4 writers"
t0=$(date +%s%N)
python3 "$W/writer.py" "$W/mnt/tput" "$M" "$W/tput.closes" 0 4
t1=$(date +%s%N)
wait_done pass "$M"
t2=$(date +%s%N)
echo "stepfs   $M events into an Express Pass machine: writes done in $(((t1 - t0) / 1000000)) ms, all executions ended in $(((t2 - t0) / 1000000)) ms: $((M * 1000000000 / (t2 - t0))) events/s"

mkdir -p "$W/plain2"
: >"$W/inotify2.count"
mkfifo "$W/fifo2"
inotifywait -m -e close_write --format '%w%f' "$W/plain2" >"$W/fifo2" 2>"$W/ino2.err" &
PIDS+=($!)
while read -r f; do
	/bin/true
	echo >>"$W/inotify2.count"
done <"$W/fifo2" &
PIDS+=($!)
wait_established "$W/ino2.err"
t0=$(date +%s%N)
python3 "$W/writer.py" "$W/plain2" "$M" "$W/tput2.closes" 0 4
t1=$(date +%s%N)
for _ in $(seq 6000); do [ "$(wc -l <"$W/inotify2.count")" -ge "$M" ] && break; sleep 0.01; done
t2=$(date +%s%N)
got=$(wc -l <"$W/inotify2.count")
echo "inotify  $got/$M events, a /bin/true spawn each: writes done in $(((t1 - t0) / 1000000)) ms, all handled in $(((t2 - t0) / 1000000)) ms: $((got * 1000000000 / (t2 - t0))) events/s"
