#!/usr/bin/env bash
# tests/it/fs_fault.sh: failures on a real stepfs mount of Ceph RGW. The mount
# talks to the server through tests/helper_faultproxy, so "the server goes
# away" is the proxy being stopped (connections refused, as for a stopped
# radosgw) without disturbing the server other scripts share.
#  - server gone during an upload: close() returns EIO, the data stays
#    readable through the mount and in the spool, and is committed (once)
#    after the server is back;
#  - kill -9 of the daemon with a failed upload in the spool: committed by the
#    next mount with the same spool;
#  - 503 SlowDown and resets injected into 10% of requests: every file still
#    arrives with the right content and close() never fails.
set -e
. "$(dirname "$0")/lib.sh"
it_need_s3
it_need_fuse
it_need_cmd jq cmp
FP=$(it_need_helper helper_faultproxy)
OPS=$(it_need_helper helper_fsops)
UP=${IT_ENDPOINT#http://}
UP=${UP%%/*}
K=$IT_PREFIX
M=$IT_DIR/mnt
EV=$IT_DIR/events.jsonl
SPOOL=$IT_DIR/spool
cd "$IT_DIR"
FP_PID= FP_PORT=0

# proxy_start [faultproxy options]: (re)start the proxy, on the same port as before
proxy_start() {
	local i
	: >fp.port
	"$FP" -l "$FP_PORT" "$@" "$UP" >fp.port 2>>fp.err &
	FP_PID=$!
	for ((i = 0; i < 50; i++)); do
		[ -s fp.port ] && break
		sleep 0.1
	done
	FP_PORT=$(head -n 1 fp.port)
	[ -n "$FP_PORT" ] || { echo "# faultproxy did not start"; cat fp.err; exit 1; }
}
proxy_stop() {
	kill -TERM "$FP_PID" 2>/dev/null || true
	wait "$FP_PID" 2>/dev/null || true
	FP_PID=
}
it_defer '[ -n "$FP_PID" ] && kill "$FP_PID"'

mnt() {
	it_mount "s3://$IT_BUCKET/${K%/}" "$M" \
		-o "endpoint=http://127.0.0.1:$FP_PORT,spool=$SPOOL,events_file=$EV,attr_ttl=1" "$@"
}
# wait_object KEY FILE SECONDS: until the object KEY holds FILE's bytes
wait_object() {
	local i
	for ((i = 0; i < $3; i++)); do
		if it_s3_get "$1" got 2>/dev/null && cmp -s "$2" got; then
			return 0
		fi
		sleep 1
	done
	return 1
}
events_for() { # KEY -> number of ObjectCreated events for it
	[ -f "$EV" ] || { echo 0; return; }
	jq -r --arg k "$1" 'select(.key == $k and (.event | startswith("ObjectCreated"))) | .key' "$EV" | wc -l
}
spool_data() { find "$SPOOL" -type f -name '*.data' | wc -l; }
# write_cut PATH SEED: write 3 MB to PATH; halfway, stop the proxy (the server
# goes away with the file open and half written); sets rc to the exit status
mkfifo go
exec 7<>go
write_cut() {
	local i wpid
	: >ready
	"$OPS" writepause "$1" 3000000 "$2" <go >ready 2>"$IT_DIR/$(basename "$1").err" &
	wpid=$!
	for ((i = 0; i < 300; i++)); do
		[ -s ready ] && break
		sleep 0.1
	done
	proxy_stop
	echo go >&7
	rc=0
	wait "$wpid" || rc=$?
}

"$OPS" pattern 3000000 1 >f2.ref
"$OPS" pattern 3000000 2 >f3.ref

# ---- server gone during an upload -------------------------------------------
proxy_start
mnt
it_check "write with the server up" "$OPS" fsync "$M/f1" one
it_check "committed" wait_object "${K}f1" <(printf one) 5

t0=$(date +%s)
write_cut "$M/f2" 1
secs=$(($(date +%s) - t0))
it_check_eq "server gone: close() fails (exit 3 = only close failed)" 3 "$rc"
it_check "...with EIO" grep -q 'close.*Input/output error' f2.err
it_check "...within 2 minutes (${secs}s)" test "$secs" -le 120
it_check "the data stays readable through the mount" cmp f2.ref "$M/f2"
it_check_eq "the size is right" 3000000 "$(stat -c %s "$M/f2")"
it_check "the data is in the spool" test "$(spool_data)" -ge 1
it_check "not on the server" it_not it_s3_exists "${K}f2"
it_check_eq "no commit event yet" 0 "$(events_for f2)"
it_check "a log line names the file" grep -q "cannot upload 'f2'" "$IT_MOUNT_LOG"
proxy_start
it_check "committed after the server is back" wait_object "${K}f2" f2.ref 150
sleep 2
it_check_eq "exactly one commit event" 1 "$(events_for f2)"
it_check_eq "spool empty afterwards" 0 "$(spool_data)"
it_check "file still reads right" cmp f2.ref "$M/f2"

# ---- kill -9 with a failed upload in the spool --------------------------------
write_cut "$M/f3" 2
it_check_eq "server gone again: close() fails" 3 "$rc"
it_check "kill -9 of the daemon" kill -KILL "$(it_mount_pid "$M")"
it_umount "$M" 2>/dev/null || true
it_check "the data survived in the spool" test "$(spool_data)" -ge 1
proxy_start
mnt
it_check "committed by the next mount" wait_object "${K}f3" f3.ref 150
it_check "the new mount says so" grep -q "'f3'.*spool" "$IT_MOUNT_LOG"
it_check "reads right after the restart" cmp f3.ref "$M/f3"
it_check "f2 is still right" cmp f2.ref "$M/f2"
it_umount "$M"
proxy_stop

# ---- 10% of requests fail ---------------------------------------------------------
proxy_start -s 5 -e 0.05 -q 0.025 -r 0.025
: >"$EV"
mnt
fails=0
for i in $(seq 1 30); do
	size=$(((i * 7919) % 200000 + 1))
	[ "$i" = 7 ] && size=20000000  # multipart
	"$OPS" write "$M/r$i" "$size" "$i" 2>>r.err || fails=$((fails + 1))
done
it_check_eq "10% faults: every close() succeeds" 0 "$fails"
bad=0
for i in $(seq 1 30); do
	size=$(((i * 7919) % 200000 + 1))
	[ "$i" = 7 ] && size=20000000
	"$OPS" pattern "$size" "$i" >ref
	it_s3_get "${K}r$i" got 2>/dev/null && cmp -s ref got || bad=$((bad + 1))
done
it_check_eq "10% faults: all 30 objects stored right" 0 "$bad"
sleep 1
it_check_eq "10% faults: one commit event per file, none twice" "30 30" \
	"$(jq -r 'select(.event | startswith("ObjectCreated")) | .key' "$EV" | sort | uniq | wc -l) $(grep -c ObjectCreated "$EV")"
it_umount "$M"
proxy_stop
injected=$(sed -n 's/.*exit:.*faults: \([0-9]*\) 503-slowdown, \([0-9]*\) reset-mid-request, \([0-9]*\) reset-mid-response.*/\1 \2 \3/p' fp.err | tail -n 1)
it_check "faults were really injected ($injected)" test "$(echo "$injected" | awk '{print $1 + $2 + $3}')" -ge 3
aws_s3 rm --only-show-errors --recursive "s3://$IT_BUCKET/$K" || true
it_done
