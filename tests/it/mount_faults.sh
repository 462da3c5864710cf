#!/usr/bin/env bash
# tests/it/mount_faults.sh: the honest close() on a real S3 server (Ceph RGW)
# reached through tests/helper_faultproxy, which is killed to stop "the
# server" and restarted on the same port to bring it back.
#   1. server stopped after the write, before close(): close() returns EIO,
#      the file stays readable through the mount, the spool holds it with a
#      manifest, the log names it; when the server returns it is committed
#      (content checked with awscli) with exactly one event.
#   2. the same, then kill -9 of the daemon: a new mount on the same spool
#      commits the file.
set -e
. "$(dirname "$0")/lib.sh"
it_need_fuse
it_need_s3
PROXY=$(it_need_helper helper_faultproxy)
M=$IT_DIR/mnt SP=$IT_DIR/spool EV=$IT_DIR/events.jsonl
UP=${IT_ENDPOINT#http://}
PPID_FILE=$IT_DIR/proxy.pid

proxy_start() { # [port]
	"$PROXY" -l "${1:-0}" "$UP" >"$IT_DIR/proxy.port" 2>>"$IT_DIR/proxy.log" &
	echo $! >"$PPID_FILE"
	for _ in $(seq 50); do [ -s "$IT_DIR/proxy.port" ] && break; sleep 0.1; done
	PORT=$(cat "$IT_DIR/proxy.port")
}
proxy_stop() { kill -9 "$(cat "$PPID_FILE")" 2>/dev/null; wait "$(cat "$PPID_FILE")" 2>/dev/null || true; }
mount_via_proxy() {
	local real=$IT_ENDPOINT
	IT_ENDPOINT=http://127.0.0.1:$PORT
	it_mount "s3://$IT_BUCKET/${IT_PREFIX%/}" "$M" -o "spool=$SP,events_file=$EV,attr_ttl=1"
	IT_ENDPOINT=$real
}
# write_then_stop NAME DATA: create+write, stop the server, close(); prints close's result
write_then_stop() {
	python3 - "$M/$1" "$2" "$PPID_FILE" <<'EOF'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, sys.argv[2].encode())
os.kill(int(open(sys.argv[3]).read()), 9)  # no fork: a child would flush first
time.sleep(0.3)
try:
    os.close(fd)
    print("ok")
except OSError as e:
    print(os.strerror(e.errno))
EOF
}
stored() { # key -> content via awscli
	it_s3_get "$IT_PREFIX$1" "$IT_DIR/got" >/dev/null 2>&1 && cat "$IT_DIR/got"
}
wait_stored() { # key data
	for _ in $(seq 100); do [ "$(stored "$1")" = "$2" ] && return 0; sleep 0.2; done
	return 1
}
nevents() { grep -c "\"key\":\"$1\"" "$EV" 2>/dev/null || true; }

proxy_start
mount_via_proxy
echo before >"$M/before"
it_check_eq "baseline commit through the proxy" before "$(stored before)"

# 1. server stopped during the upload
it_check_eq "close() returns EIO when the server is down" "Input/output error" \
	"$(write_then_stop f1 data-one)"
it_check_eq "the file reads back through the mount" data-one "$(cat "$M/f1")"
it_check "the spool holds a manifest naming the key" grep -q '"key":"f1"' "$SP"/*.json
it_check "the log names the file" grep -q "cannot upload 'f1'" "$IT_DIR"/mount-0.log
it_check_eq "no event before the commit" 0 "$(nevents f1)"
proxy_start "$PORT"
it_check "committed in the background once the server is back" wait_stored f1 data-one
it_check_eq "exactly one event for it" 1 "$(nevents f1)"
it_check "the spool is empty again" bash -c "! ls '$SP'/*.json 2>/dev/null"

# 2. kill -9 of the daemon with a file in the spool
it_check_eq "close() returns EIO again" "Input/output error" "$(write_then_stop f2 data-two)"
kill -9 "${IT_MOUNT_PIDS[0]}"
wait "${IT_MOUNT_PIDS[0]}" 2>/dev/null || true
fusermount3 -u "$M" 2>/dev/null || fusermount3 -uz "$M"
IT_MOUNTS=() IT_MOUNT_PIDS=()
it_check "spooled data survived the kill" grep -q '"key":"f2"' "$SP"/*.json
proxy_start "$PORT"
mount_via_proxy
it_check "committed after the restart" wait_stored f2 data-two
it_check_eq "one event for it" 1 "$(nevents f2)"
it_check_eq "reads back after the restart" data-two "$(cat "$M/f2")"
proxy_stop
it_done
