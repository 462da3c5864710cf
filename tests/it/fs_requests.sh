#!/usr/bin/env bash
# tests/it/fs_requests.sh: what file-system operations cost in S3 requests,
# counted by tests/helper_faultproxy (no faults) between a stepfs mount and
# Ceph RGW: readdir is ListObjectsV2 pages and `ls -l` needs no HEAD per
# entry (listing attributes; a listing of more than one page too); with
# -o exact_attrs readdir HEADs each entry once (16 at a time) and a repeated
# `ls -l` within the TTL is served from the metadata cache; a small object is
# one GET.
set -e
. "$(dirname "$0")/lib.sh"
it_need_s3
it_need_fuse
FP=$(it_need_helper helper_faultproxy)
UP=${IT_ENDPOINT#http://}
UP=${UP%%/*}
K=$IT_PREFIX
M=$IT_DIR/mnt
cd "$IT_DIR"
N=120

mkdir src
for i in $(seq 1 $N); do echo "$i" >"src/f$i"; done
aws_s3 cp --only-show-errors --recursive src "s3://$IT_BUCKET/${K}many/"

"$FP" "$UP" >fp.port 2>fp.err &
FP_PID=$!
it_defer 'kill "$FP_PID"'
for ((i = 0; i < 50; i++)); do [ -s fp.port ] && break; sleep 0.1; done
FP_PORT=$(head -n 1 fp.port)

# requests: the proxy's request counter so far (SIGUSR1 prints it)
requests() {
	local before after i
	before=$(grep -c 'stats:' fp.err || true)
	kill -USR1 "$FP_PID"
	for ((i = 0; i < 50; i++)); do
		after=$(grep -c 'stats:' fp.err || true)
		[ "$after" -gt "$before" ] && break
		sleep 0.05
	done
	grep 'stats:' fp.err | tail -n 1 | sed 's/.* \([0-9]*\) requests.*/\1/'
}
# cost CMD...: run CMD (output discarded) and print the requests it made
cost() {
	local a b
	a=$(requests)
	"$@" >/dev/null
	b=$(requests)
	echo $((b - a))
}
mnt() {
	it_mount "s3://$IT_BUCKET/${K%/}" "$M" -o "endpoint=http://127.0.0.1:$FP_PORT,attr_ttl=30" "$@"
}

mnt
c=$(cost ls -f "$M/many")
it_check "readdir of $N entries: ListObjectsV2, no HEAD per entry ($c requests)" test "$c" -le 3
it_check_eq "...all $N listed" $N "$(ls -f "$M/many" | grep -c '^f')"
it_umount "$M"
mnt -o exact_attrs
c=$(cost ls -l "$M/many")
it_check "exact_attrs: first ls -l: one HEAD per entry ($c requests)" \
	test "$c" -ge $N -a "$c" -le $((N + 3))
c=$(cost ls -l "$M/many")
it_check "exact_attrs: second ls -l within the TTL: from the cache ($c requests)" test "$c" -le 2
c=$(cost cat "$M/many/f77")
it_check "cat of a small file: one GET ($c requests)" test "$c" -le 1
it_check_eq "...right content" 77 "$(cat "$M/many/f77")"
c=$(cost cat "$M/many/f77")
it_check "cat again: nothing to fetch or at most one GET ($c)" test "$c" -le 1
it_umount "$M"

mnt
c=$(cost ls -l "$M/many")
it_check "default: ls -l needs no HEAD per entry ($c requests)" test "$c" -le 4
c=$(cost stat "$M/many/f1" "$M/many/f99")
it_check "default: stat after ls -l answered from the listing ($c requests)" test "$c" -eq 0
it_check_eq "...sizes from the listing" "$(cd src && stat -c '%n %s' f1 f50 f120)" \
	"$(cd "$M/many" && stat -c '%n %s' f1 f50 f120)"
c=$(cost bash -c 'echo new >"$1"' _ "$M/many/new")
it_check "create + write + close of a small file: at most 3 requests ($c)" test "$c" -le 3
it_umount "$M"

# more than one listing page (max-keys 1000): the later pages are listed
# while the first ones are consumed; every entry once, in order, with its size
mkdir big
for i in $(seq -w 1 1500); do : >"big/e$i"; done
aws_s3 cp --only-show-errors --recursive big "s3://$IT_BUCKET/${K}big/"
mnt
c=$(cost ls -l "$M/big")
it_check "default: ls -l of 1500 entries: two LIST pages, no HEAD ($c requests)" test "$c" -le 4
it_check_eq "...every entry once, in order" "$(ls big)" "$(ls "$M/big")"
it_check_eq "...readdir (ls -f) too" "$(ls -f big | grep '^e' | sort)" "$(ls -f "$M/big" | grep '^e')"
it_check_eq "...sizes and regular files from the listing" "1500 regular empty file" \
	"$(stat -c %F "$M"/big/* | sort | uniq -c | sed 's/^ *//')"
it_umount "$M"

# read path: a sequential read is served by ranged GETs of growing chunks
# (1 MiB doubling to 8 MiB, up to 4 in flight), a random read by one GET of
# what is asked, a small object by one GET of all of it
head -c $((40 << 20)) /dev/urandom >r40
aws_s3 cp --only-show-errors r40 "s3://$IT_BUCKET/${K}r40"
mnt
c=$(cost cat "$M/r40")
it_check "sequential read of 40 MiB: ranged GETs of growing chunks ($c requests)" \
	test "$c" -ge 8 -a "$c" -le 24
it_check "...byte-exact" cmp r40 "$M/r40"
it_umount "$M"
mnt
c=$(cost "$(it_need_helper helper_fsops)" readat "$M/r40" 30000001 100)
it_check "random read of 100 bytes: the HEAD of the open and one GET ($c requests)" test "$c" -le 2
it_check_eq "...the right bytes" "$(tail -c +30000002 r40 | head -c 100 | od -An -tx1)" \
	"$("$(it_need_helper helper_fsops)" readat "$M/r40" 30000001 100 | od -An -tx1)"
it_check "...then a sequential read from the start is byte-exact" cmp r40 "$M/r40"
it_umount "$M"
aws_s3 rm --only-show-errors --recursive "s3://$IT_BUCKET/$K" || true
it_done
