#!/usr/bin/env bash
# tests/it/metrics.sh: `stepfs mount -o metrics=ADDR,config=FILE` on a local
# bucket. Files written through the mount move the filesystem counters
# (commits by kind, bytes, spool; a failed upload and its retry) and the
# events counters (executions by state machine and status, by rule, run-time
# sums, the task-duration histogram); every scrape is valid
# Prometheus text (a # TYPE before each family's samples, one sample a line).
# A bad address fails the mount at once. Exit 77 without /dev/fuse or curl.
set -u
BIN=${STEPFS_BIN:-$PWD/build/default/stepfs}
[ -c /dev/fuse ] && command -v fusermount3 >/dev/null || { echo "no FUSE here"; exit 77; }
command -v curl >/dev/null || { echo "no curl"; exit 77; }
[ -x "$BIN" ] || { echo "no stepfs binary at $BIN"; exit 1; }
W=$(mktemp -d /tmp/stepfs-it-XXXXXX)
B=$W/bucket M=$W/mnt
mkdir -p "$B" "$M" "$W/wf"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # description, command...
	local d=$1; shift
	if "$@"; then ok; else bad "$d"; fi
}
cleanup() {
	fusermount3 -u "$M" 2>/dev/null
	[ -n "${PID:-}" ] && wait "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

cat >"$W/wf/ok.sh" <<'S'
#!/bin/sh
cat >/dev/null
echo '{}'
S
cat >"$W/wf/bad.sh" <<'S'
#!/bin/sh
cat >/dev/null
sleep 0.3
echo boom >&2
exit 3
S
chmod +x "$W/wf/ok.sh" "$W/wf/bad.sh"
echo '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "exec:./ok.sh", "End": true}}}' >"$W/wf/ok.asl.json"
echo '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "exec:./bad.sh", "End": true}}}' >"$W/wf/bad.asl.json"
cat >"$W/wf/stepfs.json" <<J
{
  "Journal": "$W/journal.db",
  "StateMachines": {
    "good": {"Definition": "ok.asl.json", "Type": "EXPRESS"},
    "broken": {"Definition": "bad.asl.json", "Type": "EXPRESS"}
  },
  "NotificationConfiguration": {
    "StateMachineConfigurations": [
      {"Id": "txt", "StateMachine": "good", "Events": ["s3:ObjectCreated:*"],
       "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".txt"}]}}},
      {"Id": "bin", "StateMachine": "broken", "Events": ["s3:ObjectCreated:*"],
       "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".bin"}]}}}
    ]
  }
}
J

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
PORT=$(free_port)
URL=http://127.0.0.1:$PORT/metrics

# a bad address is refused before mounting
if "$BIN" mount "$B" "$M" -f -o "spool=$W/spool,metrics=nohost:notaport" 2>"$W/err"; then
	bad "metrics=nohost:notaport accepted"
	fusermount3 -u "$M" 2>/dev/null
else
	check "bad address names the option" grep -q "metrics=nohost:notaport" "$W/err"
fi
check "no mount after a bad address" test "$(mountpoint -q "$M" && echo yes)" != yes

"$BIN" mount "$B" "$M" -f -o "spool=$W/spool,config=$W/wf/stepfs.json,metrics=127.0.0.1:$PORT,attr_ttl=1" \
	2>>"$W/log" &
PID=$!
for _ in $(seq 50); do mountpoint -q "$M" && break; sleep 0.1; done
mountpoint -q "$M" || { echo "mount failed:"; cat "$W/log"; exit 1; }

scrape() { curl -sf "$URL"; }
# value of one sample line (name with labels exactly as printed)
val() { awk -v n="$2" '$1 == n { print $2 }' "$1"; }
# Prometheus text format: every non-comment line is "name{labels} value",
# each family's samples come after its # TYPE line and stay together
valid() {
	python3 - "$1" <<'P'
import re, sys
types, seen_done, cur = {}, set(), None
ok = True
for ln in open(sys.argv[1]).read().split("\n")[:-1]:
    if ln.startswith("# HELP "):
        continue
    m = re.match(r"# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary|histogram|untyped)$", ln)
    if m:
        if m.group(1) in types:
            print("TYPE twice:", ln); ok = False
        types[m.group(1)] = m.group(2)
        continue
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? (-?[0-9.e+]+|NaN|\+Inf|-Inf)$', ln)
    if not m:
        print("bad line:", repr(ln)); ok = False; continue
    name = m.group(1)
    for suf in ("_bucket", "_sum", "_count"):
        base = name[: -len(suf)]
        if name.endswith(suf) and types.get(base) in ("histogram", "summary"):
            name = base
    if name not in types:
        print("sample before its TYPE:", ln); ok = False
    if name != cur:
        if name in seen_done:
            print("family split:", name); ok = False
        if cur:
            seen_done.add(cur)
        cur = name
sys.exit(0 if ok and types else 1)
P
}

scrape >"$W/m0" || bad "first scrape"
check "first scrape valid" valid "$W/m0"
check "puts start at 0" test "$(val "$W/m0" 'stepfs_objects_committed_total{kind="put"}')" = 0
check "router metrics present" grep -q '^stepfs_executions_total{state_machine="good",status="SUCCEEDED"} 0$' "$W/m0"

for i in 1 2 3; do echo "hello $i" >"$M/f$i.txt"; done
head -c 100000 /dev/urandom >"$M/data.bin"
mv "$M/f3.txt" "$M/g3.txt"
rm "$M/f2.txt"
cat "$M/f1.txt" >/dev/null
# wait for the executions to end
for _ in $(seq 100); do
	scrape >"$W/m1"
	[ "$(val "$W/m1" stepfs_executions_finished_total)" = "$(val "$W/m1" stepfs_executions_started_total)" ] &&
		[ "$(val "$W/m1" stepfs_executions_running)" = 0 ] &&
		[ "$(val "$W/m1" stepfs_executions_finished_total)" -ge 5 ] 2>/dev/null && break
	sleep 0.1
done
check "scrape after writes valid" valid "$W/m1"
check "4 puts" test "$(val "$W/m1" 'stepfs_objects_committed_total{kind="put"}')" = 4
check "1 copy (rename)" test "$(val "$W/m1" 'stepfs_objects_committed_total{kind="copy"}')" = 1
check "2 deletes (rename, rm)" test "$(val "$W/m1" 'stepfs_objects_committed_total{kind="delete"}')" = 2
check "bytes uploaded" test "$(val "$W/m1" stepfs_uploaded_bytes_total)" = $((3 * 8 + 100000))
check "no upload failures" test "$(val "$W/m1" stepfs_upload_failures_total)" = 0
check "events journaled" test "$(val "$W/m1" stepfs_events_total)" = 7
# f1 f2 f3 (good), data.bin (broken), g3 by copy (good)
check "good SUCCEEDED 4" test "$(val "$W/m1" 'stepfs_executions_total{state_machine="good",status="SUCCEEDED"}')" = 4
check "broken FAILED 1" test "$(val "$W/m1" 'stepfs_executions_total{state_machine="broken",status="FAILED"}')" = 1
check "rule txt 4" test "$(val "$W/m1" 'stepfs_rule_executions_total{rule="txt"}')" = 4
check "rule bin 1" test "$(val "$W/m1" 'stepfs_rule_executions_total{rule="bin"}')" = 1
check "duration count good" test "$(val "$W/m1" 'stepfs_execution_duration_seconds_count{state_machine="good"}')" = 4
check "task histogram count" test "$(val "$W/m1" stepfs_task_duration_seconds_count)" = 5
check "task histogram +Inf" test "$(val "$W/m1" 'stepfs_task_duration_seconds_bucket{le="+Inf"}')" = 5
check "task histogram cumulative" test "$(grep '^stepfs_task_duration_seconds_bucket' "$W/m1" | awk '{ if ($2 < p) bad = 1; p = $2 } END { print bad + 0 }')" = 0
check "task sum >= 0.3" awk -v v="$(val "$W/m1" stepfs_task_duration_seconds_sum)" 'BEGIN { exit !(v >= 0.3) }'
# the failing task sleeps 0.3 s first: never in the 0.25 s bucket
check "task bucket 0.25 excludes the slow one" test "$(val "$W/m1" 'stepfs_task_duration_seconds_bucket{le="0.25"}')" -le 4
check "execution time of broken >= 0.3" awk -v v="$(val "$W/m1" 'stepfs_execution_duration_seconds_sum{state_machine="broken"}')" 'BEGIN { exit !(v >= 0.3) }'
check "queue empty" test "$(val "$W/m1" stepfs_queue_depth)" = 0
check "spool gauges present" grep -q '^stepfs_spool_bytes [0-9]' "$W/m1"
check "only /metrics" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/other")" = 404

# a failed upload: the bucket's directory is replaced by a file behind the
# mount's back, so close() fails (EIO), the data stays in the spool and the
# retrier tries again; once the directory is back the retry commits it
mkdir "$M/blk"
rc=$(python3 - "$M/blk/f" "$B/blk" <<'P'
import os, shutil, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"x" * 5000)
shutil.rmtree(sys.argv[2])
open(sys.argv[2], "w").close()
try:
    os.close(fd)
    print("ok")
except OSError as e:
    print(e.errno)
P
)
check "close() fails with EIO" test "$rc" = 5
scrape >"$W/m2"
check "upload failure counted" test "$(val "$W/m2" stepfs_upload_failures_total)" -ge 1
check "spool holds the file" test "$(val "$W/m2" stepfs_spool_files)" -ge 1
check "spool bytes" test "$(val "$W/m2" stepfs_spool_bytes)" -ge 5000
for _ in $(seq 30); do
	scrape >"$W/m2"
	[ "$(val "$W/m2" stepfs_upload_retries_total)" -ge 1 ] && break
	sleep 0.1
done
check "retry counted" test "$(val "$W/m2" stepfs_upload_retries_total)" -ge 1
rm "$B/blk"
for _ in $(seq 100); do [ -f "$B/blk/f" ] && break; sleep 0.1; done
check "committed by a retry" test "$(stat -c %s "$B/blk/f" 2>/dev/null)" = 5000
sleep 0.2
scrape >"$W/m3"
check "bytes uploaded include it" test "$(val "$W/m3" stepfs_uploaded_bytes_total)" = $((3 * 8 + 100000 + 5000))
check "spool empty again" test "$(val "$W/m3" stepfs_spool_files)" = 0
check "final scrape valid" valid "$W/m3"

fusermount3 -u "$M"
wait "$PID"
PID=
check "server gone after unmount" test "$(curl -s -o /dev/null -w '%{http_code}' "$URL")" = 000
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
