#!/usr/bin/env bash
# tests/bench/s3.sh: throughput of the stepfs S3 client against curl
# --aws-sigv4 on the same server in the same run (Ceph RGW by default).
#
#   single-stream PUT and GET of a 256 MiB file: stepfs (store_put /
#   get_to_fd through tests/helper_s3cli) vs curl, one connection each;
#   parallel multipart PUT and parallel ranged GET (store_put_file /
#   store_get_file) vs the single streams.
#
# Runs are interleaved (curl, ours, curl, ours...) so drift hits both; prints
# the median MiB/s of RUNS runs, the ratios, and the machine.
#
# Environment: STEPFS_TEST_S3_* (else tests/servers/up.sh is started and
# stopped here), RUNS (default 3), SIZE_MB (default 256), PART_MB (default 16),
# PARALLEL (default 4), O (build dir, default build/default).
set -euo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build/default}
CLI=$PWD/$O/tests/helper_s3cli
RUNS=${RUNS:-3}
SIZE_MB=${SIZE_MB:-256}
PART_MB=${PART_MB:-16}
PARALLEL=${PARALLEL:-4}
[ -x "$CLI" ] || { echo "bench: build first (make unit-bins): $CLI missing" >&2; exit 1; }
for c in curl jq awk; do command -v $c >/dev/null || { echo "bench: '$c' missing" >&2; exit 1; }; done

own=
if [ -z "${STEPFS_TEST_S3_ENDPOINT:-}" ]; then
	envf=$(mktemp)
	tests/servers/up.sh >"$envf"
	# shellcheck disable=SC1090
	. "$envf"
	rm -f "$envf"
	own=$STEPFS_SERVERS_DIR
fi
EP=$STEPFS_TEST_S3_ENDPOINT AK=$STEPFS_TEST_S3_ACCESS_KEY SK=$STEPFS_TEST_S3_SECRET_KEY
B=$STEPFS_TEST_S3_BUCKET REGION=${STEPFS_TEST_S3_REGION:-us-east-1}
W=$(mktemp -d "${TMPDIR:-/tmp}/stepfs-bench-s3-XXXX")
cleanup() {
	rm -rf "$W"
	[ -n "$own" ] && STEPFS_SERVERS_DIR=$own tests/servers/down.sh >/dev/null 2>&1 || true
}
trap cleanup EXIT
P="bench-s3-$$"
head -c $((SIZE_MB << 20)) /dev/urandom >"$W/src"

export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK
# the same work curl does: UNSIGNED-PAYLOAD, no Content-MD5
RAW=$(jq -cn --arg e "$EP" --arg r "$REGION" '{endpoint: $e, region: $r, payload_signing: "unsigned", checksum: "none"}')
# our defaults over http: SHA-256-signed payload (hashed before sending: a
# file's digest is not known in advance), no MD5 (checksum=auto)
DEF=$(jq -cn --arg e "$EP" --arg r "$REGION" '{endpoint: $e, region: $r}')
SIGN=(-u "$AK:$SK" --aws-sigv4 "aws:amz:$REGION:s3" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
PARTB=$((PART_MB << 20))

now() { date +%s%N; }
declare -A T # name -> space-separated MiB/s of each run
timed() { # NAME CMD...: run, record MiB/s
	local name=$1 t0 t1
	shift
	t0=$(now)
	"$@" >/dev/null
	t1=$(now)
	T[$name]+="$(awk -v b=$((SIZE_MB)) -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f ", b / (ns / 1e9) }')"
}
check_same() { cmp -s "$W/src" "$1" || { echo "bench: $2 downloaded different bytes" >&2; exit 1; }; }
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

for ((r = 1; r <= RUNS; r++)); do
	echo "run $r/$RUNS..." >&2
	timed curl_put curl -sfS -T "$W/src" "${SIGN[@]}" "$EP/$B/$P/curl"
	timed ours_put "$CLI" -o "$RAW" "s3://$B/$P" put ours "$W/src"
	timed ours_put_default "$CLI" -o "$DEF" "s3://$B/$P" put ours-def "$W/src"
	timed ours_mpu "$CLI" -o "$RAW" "s3://$B/$P" putfile mpu "$W/src" --part-size $PARTB --parallel $PARALLEL
	timed ours_mpu_default "$CLI" -o "$DEF" "s3://$B/$P" putfile mpu-def "$W/src" --part-size $PARTB --parallel $PARALLEL
	rm -f "$W/get"
	timed curl_get curl -sfS -o "$W/get" "${SIGN[@]}" "$EP/$B/$P/curl"
	check_same "$W/get" curl
	rm -f "$W/get"
	timed ours_get "$CLI" -o "$RAW" "s3://$B/$P" getone ours "$W/get"
	check_same "$W/get" "single GET"
	rm -f "$W/get"
	timed ours_pget "$CLI" -o "$RAW" "s3://$B/$P" get mpu "$W/get" --part-size $PARTB --parallel $PARALLEL
	check_same "$W/get" "parallel GET"
	rm -f "$W/get"
done
"$CLI" -o "$RAW" "s3://$B/$P" delmany curl ours ours-def mpu mpu-def >/dev/null || true

m() { median "${T[$1]}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(uname -r)"
echo "server:  $EP ($(curl -s -o /dev/null -w '%{http_code}' "$EP/" >/dev/null; [ -n "${STEPFS_SERVERS_DIR:-}" ] && echo "Ceph RGW" || echo "S3")); file ${SIZE_MB} MiB; median of $RUNS runs; MiB/s"
printf '%-46s %8s %8s\n' "" "MiB/s" "ratio"
printf '%-46s %8s %8s\n' "PUT single stream: curl --aws-sigv4" "$(m curl_put)" "1.00"
printf '%-46s %8s %8s\n' "PUT single stream: stepfs (unsigned, no MD5)" "$(m ours_put)" "$(ratio "$(m ours_put)" "$(m curl_put)")"
printf '%-46s %8s %8s\n' "PUT single stream: stepfs (defaults: SHA-256)" "$(m ours_put_default)" "$(ratio "$(m ours_put_default)" "$(m curl_put)")"
printf '%-46s %8s %8s\n' "PUT multipart ${PARALLEL}x${PART_MB} MiB: stepfs (unsigned)" "$(m ours_mpu)" "$(ratio "$(m ours_mpu)" "$(m ours_put)")×single"
printf '%-46s %8s %8s\n' "PUT multipart ${PARALLEL}x${PART_MB} MiB: stepfs (SHA-256)" "$(m ours_mpu_default)" "$(ratio "$(m ours_mpu_default)" "$(m ours_put_default)")×single"
printf '%-46s %8s %8s\n' "GET single stream: curl --aws-sigv4" "$(m curl_get)" "1.00"
printf '%-46s %8s %8s\n' "GET single stream: stepfs" "$(m ours_get)" "$(ratio "$(m ours_get)" "$(m curl_get)")"
printf '%-46s %8s %8s\n' "GET ${PARALLEL} parallel ranges of ${PART_MB} MiB: stepfs" "$(m ours_pget)" "$(ratio "$(m ours_pget)" "$(m ours_get)")×single"
echo "all runs: $(for k in curl_put ours_put ours_put_default ours_mpu ours_mpu_default curl_get ours_get ours_pget; do printf '%s=[%s] ' $k "${T[$k]% }"; done)"
