#!/usr/bin/env bash
# tests/it/faultproxy.sh: the fault-injecting proxy (tests/helper_faultproxy.c)
# in front of the real Ceph RGW, driven with curl: transparent when no fault
# is asked for (keep-alive, Expect: 100-continue, chunked bodies, HEAD), and
# each fault does what it says: 503 SlowDown with an S3 XML body, resets in
# the middle of a request and of a response, stalls; seeded runs repeat; the
# counters printed at exit match what the client saw.
set -e
. "$(dirname "$0")/lib.sh"
it_need_s3
it_need_cmd curl cmp
. "$(dirname "$0")/lib_fp.sh"
cd "$IT_DIR"

SIGN=(-u "$IT_AK:$IT_SK" --aws-sigv4 "aws:amz:$IT_REGION:s3" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
P=$IT_PREFIX
purl() { echo "http://127.0.0.1:$FP_PORT/$IT_BUCKET/$P$1"; }
durl() { echo "$IT_ENDPOINT/$IT_BUCKET/$P$1"; }
# fp_count NAME: a counter from the exit line in $FP_LOG
fp_count() {
	sed -n "s/.*faultproxy: exit:.* \([0-9]*\) $1.*/\1/p" "$FP_LOG" | tail -n 1
}
head -c 3000000 /dev/urandom >big    # over 1 MiB: curl sends Expect: 100-continue
head -c 5000 /dev/urandom >small

# 1. no faults: transparent
fp_start -s 1
code=$(curl -s -o /dev/null -w '%{http_code}' -T big "${SIGN[@]}" "$(purl big)")
it_check_eq "PUT 3 MB with Expect: 100-continue through the proxy" 200 "$code"
out=$(curl -s -w '%{http_code} %{num_connects}\n' "${SIGN[@]}" -o big.1 "$(purl big)" -o big.2 "$(purl big)")
it_check_eq "two GETs on one keep-alive connection" "200 1 200 0" "$(echo $out)"
it_same_file "first GET byte-exact" big big.1
it_same_file "second GET byte-exact" big big.2
# larger than the proxy's buffers: backpressure, not a buffer overflow
head -c 30000000 /dev/urandom >huge
code=$(curl -s -o /dev/null -w '%{http_code}' -T huge "${SIGN[@]}" "$(purl huge)")
it_check_eq "PUT 30 MB through the proxy" 200 "$code"
code=$(curl -s -o huge.back -w '%{http_code}' "${SIGN[@]}" "$(purl huge)")
it_check_eq "GET 30 MB through the proxy" 200 "$code"
it_same_file "30 MB round trip byte-exact" huge huge.back
rm -f huge huge.back
# RGW refuses chunked PUT bodies (411 MissingContentLength): the proxy must
# pass that answer through as the server gives it, not hang on the framing
code=$(curl -s -o ch.body -w '%{http_code}' -m 20 -T - -H 'Transfer-Encoding: chunked' "${SIGN[@]}" \
	"$(purl chunked)" <big)
it_check_eq "PUT with a chunked body: the server's own answer" 411 "$code"
it_check "...MissingContentLength" grep -q '<Code>MissingContentLength</Code>' ch.body
# ListObjectsV2 responses from RGW are chunked
out=$(curl -s -w '%{http_code} %{num_connects}\n' "${SIGN[@]}" -o l1 "http://127.0.0.1:$FP_PORT/$IT_BUCKET?list-type=2&prefix=${P//\//%2F}" \
	-o l2 "http://127.0.0.1:$FP_PORT/$IT_BUCKET?list-type=2&prefix=${P//\//%2F}")
it_check_eq "two chunked listings on one connection" "200 1 200 0" "$(echo $out)"
it_check "listing names the object" grep -q "<Key>${P}big</Key>" l2
it_check "listing complete" grep -q '</ListBucketResult>' l2
out=$(curl -s -I -w '%{http_code}' "${SIGN[@]}" -o head.out "$(purl big)" -I -o head2.out "$(purl small-missing)")
it_check_eq "HEAD 200 then HEAD 404 on one connection" "200404" "$out"
it_check "HEAD Content-Length passed" grep -qi '^Content-Length: 3000000' head.out
code=$(curl -s -o /dev/null -w '%{http_code}' "$(purl big)")
it_check_eq "anonymous request still denied through the proxy" 403 "$code"
fp_stop
it_check_eq "no faults injected without probabilities" 0 "$(fp_count 503-slowdown)"
it_check "exit line counts 11 requests" grep -q ' 11 requests, 11 responses' "$FP_LOG"

# 2. 503 SlowDown on every request
fp_start -e 1
out=$(curl -s -w '%{http_code} %{num_connects}\n' "${SIGN[@]}" -o e1 "$(purl big)" -o e2 "$(purl big)")
it_check_eq "503 twice, connection kept alive" "503 1 503 0" "$(echo $out)"
it_check "503 body is an S3 SlowDown error" grep -q '<Error><Code>SlowDown</Code>' e1
code=$(curl -s -o e3 -w '%{http_code}' -X PUT --data-binary @small "${SIGN[@]}" "$(purl slow)")
it_check_eq "503 for a PUT with a body" 503 "$code"
code=$(curl -s -o e4 -w '%{http_code}' -T big "${SIGN[@]}" "$(purl slow-expect)")
it_check_eq "503 for a PUT with Expect: 100-continue" 503 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' "${SIGN[@]}" -I "$(durl slow)")
it_check_eq "rejected PUT did not reach the server" 404 "$code"
fp_stop
it_check_eq "counter: 4 SlowDowns" 4 "$(fp_count 503-slowdown)"

# 3. reset in the middle of the request
fp_start -q 1
rc=0
curl -s -o /dev/null -T big "${SIGN[@]}" "$(purl reset-req)" || rc=$?
it_check "PUT reset mid-request: curl fails (exit $rc)" test "$rc" = 55 -o "$rc" = 56 -o "$rc" = 52
code=$(curl -s -o /dev/null -w '%{http_code}' "${SIGN[@]}" -I "$(durl reset-req)")
it_check_eq "nothing stored by the reset PUT" 404 "$code"
rc=0
curl -s -o /dev/null "${SIGN[@]}" "$(purl big)" || rc=$?
it_check "GET reset mid-request: curl fails (exit $rc)" test "$rc" = 56 -o "$rc" = 52 -o "$rc" = 55
fp_stop
it_check_eq "counter: 2 resets mid-request" 2 "$(fp_count reset-mid-request)"

# 4. reset in the middle of the response
fp_start -r 1
rc=0
curl -s -o part "${SIGN[@]}" "$(purl big)" || rc=$?
it_check "GET reset mid-response: curl fails (exit $rc)" test "$rc" = 56 -o "$rc" = 18
size=$(stat -c %s part 2>/dev/null || echo 0)
it_check "GET reset mid-response: got less than the object ($size bytes)" test "$size" -lt 3000000
fp_stop
it_check_eq "counter: 1 reset mid-response" 1 "$(fp_count reset-mid-response)"

# 5. stall: the request is held before it is forwarded
fp_start -t 1 -T 2
rc=0
curl -s -o /dev/null -m 1 "${SIGN[@]}" "$(purl big)" || rc=$?
it_check_eq "stalled GET with a 1 s timeout times out" 28 "$rc"
t0=$(date +%s%N)
code=$(curl -s -o st.back -w '%{http_code}' "${SIGN[@]}" "$(purl big)")
ms=$((($(date +%s%N) - t0) / 1000000))
it_check_eq "stalled GET without timeout succeeds" 200 "$code"
it_check "...after the 2 s stall (${ms} ms)" test "$ms" -ge 1900
it_same_file "...with the right bytes" big st.back
fp_stop
it_check_eq "counter: 2 stalls" 2 "$(fp_count stall)"

# 6. seeded: the same seed gives the same faults, the counters match
seq_codes() { # seed -> file seq-SEED: 20 status codes of 20 GETs on one connection
	local args=() i
	fp_start -s "$1" -e 0.3
	for ((i = 0; i < 20; i++)); do args+=(-o /dev/null "$(purl small-missing)"); done
	curl -s -w '%{http_code} ' "${SIGN[@]}" "${args[@]}" >"seq-$1"
	fp_stop
}
seq_codes 42
a=$(cat seq-42)
n503=$(grep -o 503 <<<"$a" | wc -l)
it_check_eq "counter matches the 503s seen by the client ($a)" "$n503" "$(fp_count 503-slowdown)"
it_check "about 30% of 20 requests got 503 ($n503)" test "$n503" -ge 1 -a "$n503" -le 12
it_check_eq "the others reached the server (404)" $((20 - n503)) "$(grep -o 404 <<<"$a" | wc -l)"
seq_codes 42
it_check_eq "same seed, same faults" "$a" "$(cat seq-42)"
seq_codes 7
it_check "another seed, other faults" test "$a" != "$(cat seq-7)"

# 7. -m caps the number of faults
fp_start -e 1 -m 2
out=$(curl -s -w '%{http_code} ' "${SIGN[@]}" -o /dev/null "$(purl big)" -o /dev/null "$(purl big)" -o /dev/null "$(purl big)")
it_check_eq "-m 2: two 503s, then through" "503 503 200" "$(echo $out)"
fp_stop

# 8. upstream down: the client sees the connection go away; bad arguments
"$FP" -l 0 127.0.0.1:1 >dead.port 2>dead.err &
dpid=$!
sleep 0.3
rc=0
curl -s -o /dev/null "http://127.0.0.1:$(head -n 1 dead.port)/x" || rc=$?
kill "$dpid"; wait "$dpid" || true
it_check "upstream down: curl fails (exit $rc)" test "$rc" = 52 -o "$rc" = 56
it_check "upstream down: counted" grep -q '1 upstream errors' dead.err
rc=0
"$FP" -e 2 "$UP" 2>bad.err || rc=$?
it_check_eq "probability over 1 refused" 2 "$rc"
it_check "...naming the option" grep -q "bad value '2' for -e" bad.err
rc=0
"$FP" nohostport 2>bad.err || rc=$?
it_check_eq "bad upstream refused" 2 "$rc"
it_done
