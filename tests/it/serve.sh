#!/usr/bin/env bash
# stepfs serve CONFIG (what systemd's units run): the "Source" member picks a
# mount or a watch; readiness reaches $NOTIFY_SOCKET (Type=notify); files
# dropped start executions; SIGTERM stops cleanly (the mount goes away).
set -eu
cd "$(dirname "$0")/../.."
. tests/it/lib_workflow.sh
[ -e /dev/fuse ] || { echo "no /dev/fuse"; exit 77; }

cat > "$WF_TMP/pass.asl.json" <<'JSON'
{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}
JSON
notify_listen() { # path -> prints the first datagram received (up to 20 s)
	python3 - "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
try:
    print(s.recv(4096).decode().replace("\n", " "))
except socket.timeout:
    print("TIMEOUT")
PY
}

for kind in Watch Mount; do
	wf_reset
	mkdir -p "$WF_TMP/mnt"
	if [ $kind = Watch ]; then
		src="{\"Watch\": {\"Directory\": \"$WF_BUCKET\", \"QuietMs\": 100}}"
		root=$WF_BUCKET
	else
		src="{\"Mount\": {\"Bucket\": \"$WF_BUCKET\", \"MountPoint\": \"$WF_TMP/mnt\", \"Options\": \"spool=$WF_TMP/spool\"}}"
		root=$WF_TMP/mnt
	fi
	cat > "$WF_TMP/serve.json" <<JSON
{"Source": $src,
 "Journal": "$WF_JOURNAL",
 "StateMachines": {"p": {"Definition": "$WF_TMP/pass.asl.json", "Type": "STANDARD"}},
 "NotificationConfiguration": {"StateMachineConfigurations": [
   {"StateMachine": "p", "Events": ["s3:ObjectCreated:*"],
    "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".dat"}]}}}]}}
JSON
	sock=$WF_TMP/notify.sock
	rm -f "$sock"
	notify_listen "$sock" > "$WF_TMP/notify.out" &
	lpid=$!
	for i in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
	NOTIFY_SOCKET=$sock "$WF_BIN" serve "$WF_TMP/serve.json" > "$WF_TMP/serve.log" 2>&1 &
	spid=$!
	wait $lpid || true
	wf_check "$kind: READY=1 sent to NOTIFY_SOCKET" grep -q "READY=1" "$WF_TMP/notify.out"
	if [ $kind = Mount ]; then
		wf_check "Mount: mounted" mountpoint -q "$root"
	fi
	echo hello > "$root/a.dat"
	echo ignored > "$root/b.txt"
	WF_PID=$spid WF_MODE=
	wf_wait_ended 1 30 || cat "$WF_TMP/serve.log"
	sleep 0.5
	wf_check "$kind: one execution for a.dat, none for b.txt" [ "$(wf_count SUCCEEDED)" = 1 ]
	kill -TERM $spid
	rc=0; wait $spid || rc=$?
	WF_PID=
	wf_check "$kind: SIGTERM exits cleanly (status $rc)" [ $rc = 0 ]
	if [ $kind = Mount ]; then
		wf_check "Mount: unmounted on SIGTERM" bash -c "! mountpoint -q '$root'"
		wf_check "Mount: the object is in the bucket" [ "$(cat "$WF_BUCKET/a.dat")" = hello ]
	fi
done

# a bad Source is named precisely
echo '{"Source": {"Mount": {"Bucket": "/x"}}}' > "$WF_TMP/bad.json"
out=$("$WF_BIN" serve "$WF_TMP/bad.json" 2>&1 || true)
wf_check "bad Source: names the pointer" grep -q "/Source/Mount/MountPoint" <<<"$out"
wf_done
