#!/usr/bin/env bash
# tests/bench/fs.sh: the file system against its peers on the same S3 server
# (Ceph RGW by default), same run: stepfs mount, s3fs, rclone mount (Debian
# packages) and raw curl --aws-sigv4.
#
#   write   256 MiB sequential (dd bs=1M, time includes close)   vs curl -T
#   read    256 MiB sequential (cat, page cache dropped)         vs curl GET
#   create  500 x 4 KiB files in a new directory, one process; timed until
#           the last close returned AND all 500 objects are listed on the
#           server (rclone's write-back cache returns before uploading)
#           vs curl: 500 PUTs on one connection
#   ls -l   of a 10,000-entry directory on a fresh mount (objects put with curl);
#           stepfs also with -o exact_attrs (a HEAD per entry, like s3fs)
#   rss     peak RSS (VmHWM) of the stepfs daemon while RSS_N programs each
#           write an RSS_MB file at once, against a server of its own whose
#           OSD holds them (tests/servers/up.sh with STEPFS_SERVERS_OSD_GB;
#           RSS_OWN_SERVER=0 uses the shared one, whose 10 GiB OSD fills at
#           10 x 1 GiB: the closes then fail with EIO, as they should), set
#           against the configured memory budget (README "Mounting").
#
# Prints the median of RUNS runs per cell, ratios against curl and s3fs, and
# the machine. A peer that is not installed is reported as such.
#
# Every timed write and create starts after sync and SETTLE (2) seconds, so
# that no tool pays for the server's writeback of the previous tool's data.
#
# Environment: STEPFS_TEST_S3_* (else tests/servers/up.sh is run here), RUNS
# (3), SIZE_MB (256), NCREATE (500), NLS (10000), RSS_N (10), RSS_MB (1024),
# RSS_OWN_SERVER (1),
# PEERS ("s3fs rclone"), STEPFS_OPTS (extra -o for stepfs), PHASES ("io ls rss"),
# O (build dir).
set -euo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build/default}
BIN=$PWD/$O/stepfs
S3CLI=$PWD/$O/tests/helper_s3cli
RUNS=${RUNS:-3} SIZE_MB=${SIZE_MB:-256} NCREATE=${NCREATE:-500} NLS=${NLS:-10000}
RSS_N=${RSS_N:-10} RSS_MB=${RSS_MB:-1024} PEERS=${PEERS-s3fs rclone} PHASES=${PHASES:-io ls rss}
[ -x "$BIN" ] && [ -x "$S3CLI" ] || { echo "bench: build first (make all unit-bins)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench: run as root (drops the page cache)" >&2; exit 1; }
for c in curl jq awk python3 fusermount3; do
	command -v $c >/dev/null || { echo "bench: '$c' missing" >&2; exit 1; }
done

own=
if [ -z "${STEPFS_TEST_S3_ENDPOINT:-}" ]; then
	envf=$(mktemp)
	STEPFS_NO_S3RVER=1 tests/servers/up.sh >"$envf"
	# shellcheck disable=SC1090
	. "$envf"
	rm -f "$envf"
	own=$STEPFS_SERVERS_DIR
fi
EP=$STEPFS_TEST_S3_ENDPOINT AK=$STEPFS_TEST_S3_ACCESS_KEY SK=$STEPFS_TEST_S3_SECRET_KEY
B=$STEPFS_TEST_S3_BUCKET REGION=${STEPFS_TEST_S3_REGION:-us-east-1}
W=$(mktemp -d "${TMPDIR:-/tmp}/stepfs-bench-fs-XXXX")
S3OPTS=$(jq -cn --arg e "$EP" --arg r "$REGION" '{endpoint: $e, region: $r}')
PFX=bench-fs-$(date +%s)-$$
MOUNTED=()
cleanup() {
	local m
	for m in "${MOUNTED[@]}"; do fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true; done
	sleep 0.5
	rm -rf "$W"
	[ -n "$own" ] && tests/servers/down.sh "$own" >/dev/null 2>&1 || true
	[ -n "${rss_own:-}" ] && tests/servers/down.sh "$rss_own" >/dev/null 2>&1 || true
}
trap cleanup EXIT
CURL=(curl -sS -f -u "$AK:$SK" --aws-sigv4 "aws:amz:$REGION:s3" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.6f\n", a - b }'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# before each timed write: let the server's disk catch up with what the
# previous tool wrote (the OSD's block file is in the page cache too; in a
# run where each tool writes right after another's 256 MiB, whoever comes
# second paid for the first one's writeback)
settle() { sync; sleep "${SETTLE:-2}"; }
count_keys() { # prefix -> number of keys (all pages)
	AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK "$S3CLI" -o "$S3OPTS" "s3://$B" list --prefix "$1" --all 2>/dev/null |
		grep -c '"key"' || true
}
wait_keys() { # prefix n: until n keys are listed (60 s)
	local i
	for ((i = 0; i < 600; i++)); do [ "$(count_keys "$1")" -ge "$2" ] && return 0; sleep 0.1; done
	return 1
}

# ---- mounts --------------------------------------------------------------------
wait_mounted() { local i; for ((i = 0; i < 300; i++)); do mountpoint -q "$1" && return 0; sleep 0.1; done; return 1; }
mount_tool() { # tool prefix mnt [extra stepfs -o]
	local t=$1 p=$2 m=$3 x=${4:-}
	mkdir -p "$m"
	case $t in
	stepfs | stepfs-def)
		# stepfs: the same work as curl (UNSIGNED-PAYLOAD, no checksum);
		# stepfs-def: the defaults (over http: SHA-256-signed payload)
		local integ=payload_signing=unsigned,checksum=none,
		[ "$t" = stepfs-def ] && integ=
		AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK "$BIN" mount "s3://$B/$p" "$m" -f \
			-o "endpoint=$EP,region=$REGION,${integ}spool=$W/spool,spool_max=$(((RSS_N + 1) * RSS_MB))M${STEPFS_OPTS:+,$STEPFS_OPTS}$x" \
			>>"$W/stepfs.log" 2>&1 &
		echo $! >"$W/stepfs.pid" ;;
	s3fs)
		echo "$AK:$SK" >"$W/s3fs.passwd"; chmod 600 "$W/s3fs.passwd"
		s3fs "$B:/$p" "$m" -f -o url="$EP" -o use_path_request_style -o endpoint="$REGION" \
			-o passwd_file="$W/s3fs.passwd" >>"$W/s3fs.log" 2>&1 & ;;
	rclone)
		cat >"$W/rclone.conf" <<EOF
[b]
type = s3
provider = Ceph
access_key_id = $AK
secret_access_key = $SK
endpoint = $EP
region = $REGION
force_path_style = true
EOF
		env -u AWS_CA_BUNDLE rclone --config "$W/rclone.conf" mount "b:$B/$p" "$m" \
			--vfs-cache-mode writes --cache-dir "$W/rclone-cache" >>"$W/rclone.log" 2>&1 & ;;
	esac
	MOUNTED+=("$m")
	wait_mounted "$m" || { echo "bench: $t did not mount; log:" >&2; tail -5 "$W/$t.log" >&2; return 1; }
}
umount_tool() { fusermount3 -u "$1" 2>/dev/null || { sleep 1; fusermount3 -uz "$1"; }; sleep 0.5; }

head -c $((SIZE_MB << 20)) /dev/urandom >"$W/big"
head -c 4096 /dev/urandom >"$W/4k"
TOOLS=(curl stepfs stepfs-def)
for t in $PEERS; do
	if command -v "$t" >/dev/null; then TOOLS+=("$t"); else echo "# $t not installed: skipped" >&2; fi
done
declare -A RES

# ---- write / read / create ---------------------------------------------------------
for ((run = 1; run <= RUNS; run++)); do
	[[ " $PHASES " == *" io "* ]] || break
	for t in "${TOOLS[@]}"; do
		p=$PFX/$t-$run
		if [ "$t" = curl ]; then
			settle
			s=$(now); "${CURL[@]}" -T "$W/big" "$EP/$B/$p/big" -o /dev/null; RES[$t,write]+="$(since "$s") "
			drop_caches
			s=$(now); "${CURL[@]}" "$EP/$B/$p/big" -o /dev/null; RES[$t,read]+="$(since "$s") "
			: >"$W/curl.cfg"
			for ((i = 0; i < NCREATE; i++)); do
				printf 'upload-file = "%s"\nurl = "%s/%s/%s/c/f%d"\noutput = /dev/null\n' "$W/4k" "$EP" "$B" "$p" $i >>"$W/curl.cfg"
			done
			settle
			s=$(now); "${CURL[@]}" -K "$W/curl.cfg"; RES[$t,create]+="$(since "$s") "
			continue
		fi
		m=$W/mnt-$t
		mount_tool "$t" "$p" "$m"
		settle
		s=$(now); dd if="$W/big" of="$m/big" bs=1M status=none; RES[$t,write]+="$(since "$s") "
		umount_tool "$m"; drop_caches; mount_tool "$t" "$p" "$m"
		s=$(now); cat "$m/big" >/dev/null; RES[$t,read]+="$(since "$s") "
		settle
		mkdir "$m/c"
		s=$(now)
		python3 - "$m/c" "$NCREATE" "$W/4k" <<'EOF'
import os, sys
d, n, data = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "rb").read()
for i in range(n):
    fd = os.open(f"{d}/f{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.close(fd)
EOF
		wait_keys "$p/c/f" "$NCREATE" || echo "# $t: objects did not all appear" >&2
		RES[$t,create]+="$(since "$s") "
		umount_tool "$m"
	done
done

# ---- ls -l of a big directory ---------------------------------------------------------
lp=$PFX/ls
[[ " $PHASES " == *" ls "* ]] || NLS=0
: >"$W/ls.cfg"
for ((i = 0; i < NLS; i++)); do
	printf 'upload-file = "%s"\nurl = "%s/%s/%s/d/e%05d"\noutput = /dev/null\n' "$W/4k" "$EP" "$B" "$lp" $i >>"$W/ls.cfg"
done
[ "$NLS" = 0 ] || "${CURL[@]}" -K "$W/ls.cfg"
for ((run = 1; run <= RUNS && NLS > 0; run++)); do
	for t in "${TOOLS[@]}"; do
		[ "$t" = curl ] || [ "$t" = stepfs-def ] && continue # integrity settings do not touch ls
		m=$W/mnt-$t
		mount_tool "$t" "$lp" "$m"
		s=$(now); n=$(ls -l "$m/d" | wc -l); RES[$t,ls]+="$(since "$s") "
		[ "$n" -gt "$NLS" ] || echo "# $t: ls -l listed $n lines" >&2
		umount_tool "$m"
		if [ "$t" = stepfs ]; then # a HEAD per entry, like s3fs
			mount_tool "$t" "$lp" "$m" ",exact_attrs"
			s=$(now); n=$(ls -l "$m/d" | wc -l); RES[$t,lsla]+="$(since "$s") "
			umount_tool "$m"
		fi
	done
done

# ---- peak RSS of stepfs with RSS_N concurrent 1 GiB writers -----------------------------------
rss_time=n/a hwm=0 rss_fail=0 rss_own= rss_srv=shared
if [[ " $PHASES " == *" rss "* ]]; then
	if [ "${RSS_OWN_SERVER:-1}" = 1 ]; then
		# data + 25 % (the OSD refuses writes at 95 % full) + 4 GiB
		rss_gb=$(((RSS_N * RSS_MB + 1023) / 1024 * 5 / 4 + 4))
		rss_own=$(mktemp -d "${TMPDIR:-/tmp}/stepfs-ceph-rss-XXXX")
		STEPFS_SERVERS_DIR=$rss_own STEPFS_NO_S3RVER=1 STEPFS_SERVERS_OSD_GB=$rss_gb \
			tests/servers/up.sh >"$W/rss.env"
		# shellcheck disable=SC1091
		EP=$(. "$W/rss.env" && echo "$STEPFS_TEST_S3_ENDPOINT")
		B=$(. "$W/rss.env" && echo "$STEPFS_TEST_S3_BUCKET")
		rss_srv="own, $rss_gb GiB OSD"
	fi
	m=$W/mnt-stepfs
	mount_tool stepfs "$PFX/rss" "$m"
	pid=$(cat "$W/stepfs.pid")
	s=$(now)
	ddp=()
	for ((i = 0; i < RSS_N; i++)); do
		dd if=/dev/zero of="$m/w$i" bs=1M count="$RSS_MB" status=none 2>>"$W/rss.err" &
		ddp+=($!)
	done
	for p in "${ddp[@]}"; do wait "$p" || rss_fail=$((rss_fail + 1)); done
	rss_time=$(since "$s")
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
	umount_tool "$m"
	if [ -n "$rss_own" ]; then
		tests/servers/down.sh "$rss_own" >/dev/null 2>&1 || true
		rss_own=
		EP=$STEPFS_TEST_S3_ENDPOINT B=$STEPFS_TEST_S3_BUCKET
	fi
fi

# ---- report -----------------------------------------------------------------------------------
med() { tr ' ' '\n' <<<"${RES[$1,$2]:-}" | { grep . || true; } | median; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN {if (t == "n/a" || t <= 0) print "n/a"; else printf "%.1f", n / t}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "n/a" || b == "n/a" || b <= 0) print "n/a"; else printf "%.2f", a / b}'; }
echo "== stepfs file-system bench: $(date -u +%FT%TZ), $RUNS runs, medians"
echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server: $EP ($( [ -n "$own" ] && echo started here || echo given)); stepfs -o payload_signing=unsigned,checksum=none${STEPFS_OPTS:+,$STEPFS_OPTS}; stepfs-def: default integrity settings${STEPFS_OPTS:+, -o $STEPFS_OPTS}; s3fs $(s3fs --version 2>/dev/null | grep -o 'V[0-9.]*' | head -1); rclone $(rclone version 2>/dev/null | head -1 | awk '{print $2}') --vfs-cache-mode writes"
printf '%-10s %14s %14s %16s %12s\n' tool "write MiB/s" "read MiB/s" "create files/s" "ls -l s"
echo "(stepfs ls -l with -o exact_attrs: $(med stepfs lsla) s)"
for t in "${TOOLS[@]}"; do
	wr=$(rate "$SIZE_MB" "$(med "$t" write)") rd=$(rate "$SIZE_MB" "$(med "$t" read)")
	cr=$(rate "$NCREATE" "$(med "$t" create)") ls=$(med "$t" ls)
	printf '%-10s %14s %14s %16s %12s\n' "$t" "$wr" "$rd" "$cr" "${ls:-n/a}"
	eval "W_${t//-/_}=$wr R_${t//-/_}=$rd C_${t//-/_}=$cr L_${t//-/_}=${ls:-n/a}"
done
echo "all runs (s): $(for t in "${TOOLS[@]}"; do for c in write read create; do [ -n "${RES[$t,$c]:-}" ] && printf '%s.%s=[%s] ' "$t" $c "${RES[$t,$c]% }"; done; done)"
echo "stepfs / curl:  write $(ratio "$W_stepfs" "$W_curl") (goal >= 0.9), read $(ratio "$R_stepfs" "$R_curl") (goal >= 0.9), create $(ratio "$C_stepfs" "$C_curl") (goal >= 0.8)"
echo "stepfs-def / curl (default integrity settings): write $(ratio "$W_stepfs_def" "$W_curl"), read $(ratio "$R_stepfs_def" "$R_curl"), create $(ratio "$C_stepfs_def" "$C_curl")"
if [ -n "${C_s3fs:-}" ]; then
	echo "stepfs / s3fs:  create $(ratio "$C_stepfs" "$C_s3fs") (goal >= 10), ls -l speed-up $(ratio "$L_s3fs" "$L_stepfs") (goal >= 10); with -o exact_attrs $(ratio "$L_s3fs" "$(med stepfs lsla)")"
fi
if [ -n "${C_rclone:-}" ]; then
	echo "stepfs / rclone: write $(ratio "$W_stepfs" "$W_rclone"), read $(ratio "$R_stepfs" "$R_rclone"), create $(ratio "$C_stepfs" "$C_rclone"), ls -l speed-up $(ratio "$L_rclone" "$L_stepfs")"
fi
# the configured budget (README "Mounting"): read_mem (256 MiB), the
# metadata cache (100000 entries of ~300 B), 1.3 MiB of curl buffers per
# transfer in flight (parallel=4 per file) and 16 MiB for the rest (code,
# libraries, thread stacks)
[[ " $PHASES " == *" rss "* ]] || exit 0
xfer_mb=$(((RSS_N * 4 * 13 + 9) / 10))
budget=$((256 + 100000 * 300 / 1048576 + xfer_mb + 16))
echo "rss: $RSS_N writers x $RSS_MB MiB through stepfs ($rss_srv server) in ${rss_time}s ($rss_fail close() failed): peak RSS $((hwm / 1024)) MiB; configured budget $budget MiB (read_mem 256 + metadata cache 28 + $((RSS_N * 4)) transfers $xfer_mb + 16)"
