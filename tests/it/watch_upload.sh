#!/usr/bin/env bash
# stepfs watch --upload ("S3 Sync") against the real Ceph RGW, through the
# fault proxy (tests/helper_faultproxy, transparent unless asked) so that the
# server can be taken away and brought back:
#  - files land in the bucket byte for byte (read back with awscli), keys are
#    the paths relative to the watched directory under the prefix;
#  - each event (execution input) carries the bucket's ETag and size;
#  - with the server gone, no event is raised and the files are retried; once
#    it is back, each is uploaded and committed exactly once;
#  - with 503s and connection resets injected, every file still lands once.
set -eu
. "$(dirname "$0")/lib.sh"
it_need_s3
it_need_cmd jq sqlite3 cmp
. "$(dirname "$0")/lib_fp.sh"
T=$IT_DIR
DROP=$T/drop
PREFIX=${IT_PREFIX}sync/
mkdir -p "$DROP"
W_PID=

w_stop() { kill -TERM "$W_PID" 2>/dev/null || true; wait "$W_PID" 2>/dev/null || true; W_PID=; }
it_defer '[ -n "$W_PID" ] && w_stop'

cat >"$T/pass.asl.json" <<'J'
{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}
J
cat >"$T/cfg.json" <<J
{"Journal": "$T/journal.db",
 "StateMachines": {"p": {"Definition": "pass.asl.json", "Type": "EXPRESS"}},
 "NotificationConfiguration": {"StateMachineConfigurations": [
   {"Id": "all", "StateMachine": "p", "Events": ["s3:ObjectCreated:*"]}]}}
J

fp_start
PORT=$FP_PORT
AWS_ACCESS_KEY_ID=$IT_AK AWS_SECRET_ACCESS_KEY=$IT_SK \
	"$STEPFS_BIN" watch "$DROP" --config "$T/cfg.json" --quiet-ms 100 --no-deletes \
	--upload "s3://$IT_BUCKET/${PREFIX%/}" --endpoint "http://127.0.0.1:$PORT" --path-style \
	--region "$IT_REGION" >"$T/watch.log" 2>&1 &
W_PID=$!
sleep 0.5
kill -0 "$W_PID" || { cat "$T/watch.log"; exit 1; }

q() { sqlite3 "$T/journal.db" "$1" 2>/dev/null || true; }
n_exec() { q "SELECT count(*) FROM executions WHERE status != 'RUNNING'"; }
# wait_exec N [timeout]: until N executions have ended
wait_exec() {
	local i
	for i in $(seq 1 $((${2:-60} * 10))); do
		[ "$(n_exec)" -ge "$1" ] && return 0
		sleep 0.1
	done
	echo "# timed out waiting for $1 executions (have $(n_exec))"; tail -n 20 "$T/watch.log"
	return 1
}
# fetch: download everything under the prefix and list it (one awscli call each)
fetch() {
	rm -rf "$T/got" && mkdir -p "$T/got"
	aws_s3 cp --recursive --quiet "s3://$IT_BUCKET/$PREFIX" "$T/got/" >/dev/null
	aws_s3api list-objects-v2 --bucket "$IT_BUCKET" --prefix "$PREFIX" --output json >"$T/list.json"
}
# landed REL (after fetch): bytes equal, and exactly one execution, whose
# event has the bucket's ETag and the file's size
landed() {
	local rel=$1 etag ev n
	[ -f "$T/got/$rel" ] || { echo "# '$PREFIX$rel' not in the bucket"; return 1; }
	cmp "$DROP/$rel" "$T/got/$rel" || return 1
	etag=$(jq -r --arg k "$PREFIX$rel" '.Contents[] | select(.Key == $k) | .ETag' "$T/list.json" | tr -d '"')
	n=$(q "SELECT count(*) FROM executions WHERE json_extract(input, '$.Records[0].s3.object.eTag') = '$etag'")
	ev=$(q "SELECT json_extract(input, '$.Records[0].s3.object.eTag') || ' ' ||
		json_extract(input, '$.Records[0].s3.object.size') FROM executions
		WHERE json_extract(input, '$.Records[0].s3.object.eTag') = '$etag'")
	[ "$n" = 1 ] || { echo "# $n executions with ETag '$etag' for '$rel'"; return 1; }
	[ "$ev" = "$etag $(stat -c %s "$DROP/$rel")" ] || { echo "# event '$ev', bucket $etag"; return 1; }
}

# 1. files of several shapes land, each with one event carrying the bucket's ETag
echo "small" >"$DROP/small.txt"
mkdir -p "$DROP/sub/deeper"
head -c 3000000 /dev/urandom >"$DROP/sub/deeper/random.bin"
head -c 20000000 /dev/urandom >"$T/big.tmp" && mv "$T/big.tmp" "$DROP/big.bin"
printf 'odd' >"$DROP/sp ace+plus%pct.txt"
wait_exec 4 60
fetch
for f in small.txt sub/deeper/random.bin big.bin "sp ace+plus%pct.txt"; do
	it_check "'$f' in the bucket byte for byte, one event with its ETag and size" landed "$f"
done
it_check_eq "4 objects under the prefix" 4 "$(jq '.Contents | length' "$T/list.json")"

# 2. the server goes away: no event, retried; back: each committed once
fp_stop
for i in 1 2 3; do echo "offline $i" >"$DROP/offline-$i.txt"; done
sleep 3
it_check_eq "server gone: no event raised" 4 "$(n_exec)"
it_check "server gone: the upload failure is logged and retried" \
	grep -q "cannot upload '$DROP/offline-1.txt'.*retried" "$T/watch.log"
it_check "server gone: the object is not in the bucket" it_not it_s3_exists "${PREFIX}offline-1.txt"
fp_start -l "$PORT"
wait_exec 7 60
sleep 1
fetch
for i in 1 2 3; do
	it_check "server back: offline-$i.txt landed once, one event" landed "offline-$i.txt"
done
it_check_eq "server back: 7 executions in all" 7 "$(n_exec)"

# 3. injected faults: 30% 503 SlowDown, 10% resets mid-request, 10% mid-response
fp_stop
fp_start -l "$PORT" -s 7 -e 0.3 -q 0.1 -r 0.1
for i in $(seq 1 10); do head -c $((i * 1000)) /dev/urandom >"$DROP/fault-$i.bin"; done
wait_exec 17 120
sleep 1
fetch
bad=0
for i in $(seq 1 10); do landed "fault-$i.bin" >/dev/null || bad=$((bad + 1)); done
it_check_eq "faults: 10 files landed, each once with its ETag" 0 "$bad"
it_check_eq "faults: 17 executions in all, none twice" 17 "$(n_exec)"
it_check_eq "17 objects under the prefix" 17 "$(jq '.Contents | length' "$T/list.json")"
it_check "the watcher is still running" kill -0 "$W_PID"
w_stop
aws_s3 rm --recursive --quiet "s3://$IT_BUCKET/$PREFIX" >/dev/null 2>&1 || true
it_done
