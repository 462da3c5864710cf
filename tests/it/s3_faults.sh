#!/usr/bin/env bash
# tests/it/s3_faults.sh: the S3 client's retries against real faults. The
# fault-injecting proxy (tests/helper_faultproxy.c) sits in front of Ceph RGW
# and answers 503 SlowDown or resets the connection mid-request or
# mid-response on 10% of requests; every upload (single PUTs and parallel
# multipart uploads) must still complete, and what lands on the server (read
# directly, without the proxy) must be exactly what was sent. Downloads through
# the proxy must be byte-exact too. Stalls are cut by the stall timeout and
# retried; a server that always stalls gives a timeout error, bounded.
set -e
. "$(dirname "$0")/lib.sh"
it_need_s3
it_need_cmd jq cmp
CLI=$(it_need_helper helper_s3cli)
. "$(dirname "$0")/lib_fp.sh"
cd "$IT_DIR"
P=${IT_PREFIX%/}
viaproxy() { # OPTS-JSON-EXTRA ARGS...
	local o
	o=$(jq -cn --arg e "http://127.0.0.1:$FP_PORT" "{endpoint: \$e, retry_base_ms: 20, retry_max_ms: 200} + $1")
	shift
	AWS_ACCESS_KEY_ID=$IT_AK AWS_SECRET_ACCESS_KEY=$IT_SK "$CLI" -o "$o" "s3://$IT_BUCKET/$P" "$@"
}
direct() {
	AWS_ACCESS_KEY_ID=$IT_AK AWS_SECRET_ACCESS_KEY=$IT_SK \
		"$CLI" -o "$(jq -cn --arg e "$IT_ENDPOINT" '{endpoint: $e}')" "s3://$IT_BUCKET/$P" "$@"
}

for i in $(seq 1 30); do head -c $((20000 + i * 3000)) /dev/urandom >small.$i; done
for i in 1 2 3; do head -c $((21000000 + i * 1000)) /dev/urandom >big.$i; done

# --- 10% of requests fail: 4% 503 SlowDown, 3% reset mid-request, 3% mid-response
fp_start -s 42 -e 0.04 -q 0.03 -r 0.03
ok=0
for i in $(seq 1 30); do
	viaproxy '{}' put "small.$i" "small.$i" >/dev/null 2>"err.$i" && ok=$((ok + 1))
done
it_check_eq "30 single PUTs through 10% faults all complete" 30 "$ok"
ok=0
for i in 1 2 3; do
	viaproxy '{}' putfile "big.$i" "big.$i" --part-size 5242880 --parallel 4 >/dev/null 2>"errb.$i" &&
		ok=$((ok + 1))
done
it_check_eq "3 parallel multipart uploads (5 parts each) all complete" 3 "$ok"
ok=0
for i in 1 2 3; do
	rm -f got
	viaproxy '{}' get "big.$i" got --part-size 4194304 --parallel 4 >/dev/null 2>&1 && cmp -s got "big.$i" &&
		ok=$((ok + 1))
done
it_check_eq "3 parallel ranged downloads through the faults are byte-exact" 3 "$ok"
ok=0
for i in $(seq 1 30); do
	rm -f got
	viaproxy '{}' getone "small.$i" got >/dev/null 2>&1 && cmp -s got "small.$i" && ok=$((ok + 1))
done
it_check_eq "30 GETs through the faults are byte-exact" 30 "$ok"
fp_stop
# faults are drawn per request (about 115 here, ~11 faults expected); the
# order of parallel requests varies, so demand a total, not each kind
nf=$(sed -n 's/.*faults: \([0-9]*\) 503-slowdown, \([0-9]*\) reset-mid-request, \([0-9]*\) reset-mid-response.*/\1 \2 \3/p' "$FP_LOG" |
	awk '{ print $1 + $2 + $3 }')
it_check "the proxy injected 503s and resets (${nf:-0} faults)" test "${nf:-0}" -ge 3
grep 'exit:' "$FP_LOG" | sed 's/^/# /'

# what is on the server, read directly, is exactly what was sent
ok=0
for i in $(seq 1 30); do
	rm -f got
	direct getone "small.$i" got >/dev/null 2>&1 && cmp -s got "small.$i" && ok=$((ok + 1))
done
it_check_eq "server holds the 30 small objects byte-exact" 30 "$ok"
for i in 1 2 3; do
	rm -f got
	direct getone "big.$i" got >/dev/null 2>&1 || true
	it_same_file "server holds multipart object $i byte-exact" "big.$i" got
done
it_check_eq "no multipart upload left behind" 0 "$(direct mpu-list | grep -c upload_id || true)"

# --- heavier: 30% of requests are 503s; still done, with retries
fp_start -s 7 -e 0.3
it_check "multipart upload through 30% 503s" viaproxy '{retries: 8}' putfile big.1 big.1 \
	--part-size 5242880 --parallel 4
fp_stop
rm -f got
direct getone big.1 got >/dev/null
it_same_file "...byte-exact on the server" big.1 got

# --- stalls: a stalled request is cut after stall_timeout_ms and retried
fp_start -s 3 -t 0.2 -T 5
stall_puts() {
	local i
	for i in 1 2 3 4 5 6 7 8; do
		viaproxy '{stall_timeout_ms: 1000, retries: 6}' put "stall.$i" "small.$i" >/dev/null || return 1
	done
}
it_check "8 uploads through 20% stalls (1 s stall timeout)" stall_puts
fp_stop
it_check "stall counter is non-zero" grep -qE 'exit:.*[1-9][0-9]* stall' "$FP_LOG"
# every request stalls: a timeout error after bounded retries
fp_start -t 1 -T 30
t0=$(date +%s%N)
rc=0
viaproxy '{stall_timeout_ms: 1000, retries: 2}' head small.1 >/dev/null 2>err || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
fp_stop
it_check_eq "always stalling server: timeout error" 19 "$rc"
it_check "...says it timed out after 3 attempts" grep -qE "timed out.*gave up after 3 attempts" err
it_check "...within 10 s (took $ms ms)" test "$ms" -lt 10000

# --- an object replaced during a parallel download is reported, not mixed
direct put repl big.2 >/dev/null
# every request through the proxy stalls 3 s: the first HEAD answers at ~3 s,
# the ranges at ~6 s; the object is replaced (directly) at 4.5 s, in between
fp_start -t 1 -T 3
rc=0
viaproxy '{stall_timeout_ms: 20000}' get repl got --part-size 5242880 --parallel 4 >/dev/null 2>err &
gp=$!
sleep 4.5
direct put repl big.3 >/dev/null
wait $gp || rc=$?
fp_stop
it_check_eq "object replaced during a parallel download: precondition error" 16 "$rc"
it_check "...saying it changed" grep -q "changed during the download" err

# clean up
mapfile -t keys < <(direct list --all | jq -r 'select(.key) | .key')
[ ${#keys[@]} -gt 0 ] && direct delmany "${keys[@]}" >/dev/null
it_done
