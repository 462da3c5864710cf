#!/usr/bin/env bash
# tests/it/s3_integrity.sh: a request body corrupted on the way to Ceph RGW
# (tests/helper_faultproxy -c flips one bit in the middle of a body) is
# refused under every integrity setting but checksum=none, and retried:
#   signed payload (the http default)   RGW: XAmzContentSHA256Mismatch
#   unsigned, checksum=auto (default)   our ETag check (MD5 computed while
#                                       sending); the bad object is deleted
#   unsigned, checksum=md5              RGW: BadDigest (Content-MD5)
#   unsigned, checksum=none             stored corrupted (nothing checks)
# With only the first request corrupted, every upload succeeds and the server
# holds the exact bytes. Through a mount (digests computed while the file is
# written: single PUT and parts uploaded while writing), with signed and
# unsigned settings, bodies corrupted at random: every close() succeeds and
# the objects are exact (read directly, without the proxy).
set -e
. "$(dirname "$0")/lib.sh"
it_need_s3
it_need_cmd jq cmp
CLI=$(it_need_helper helper_s3cli)
. "$(dirname "$0")/lib_fp.sh"
cd "$IT_DIR"
P=${IT_PREFIX%/}
corrupted() { sed -n 's/.*exit:.* \([0-9]*\) corrupt-body.*/\1/p' "$FP_LOG" | tail -n 1; }
viaproxy() { # OPTS-JSON-EXTRA ARGS...
	local o
	o=$(jq -cn --arg e "http://127.0.0.1:$FP_PORT" "{endpoint: \$e, retry_base_ms: 10, retry_max_ms: 50} + $1")
	shift
	AWS_ACCESS_KEY_ID=$IT_AK AWS_SECRET_ACCESS_KEY=$IT_SK "$CLI" -o "$o" "s3://$IT_BUCKET/$P" "$@"
}
direct() {
	AWS_ACCESS_KEY_ID=$IT_AK AWS_SECRET_ACCESS_KEY=$IT_SK \
		"$CLI" -o "$(jq -cn --arg e "$IT_ENDPOINT" '{endpoint: $e}')" "s3://$IT_BUCKET/$P" "$@"
}
exact() { # KEY FILE: the server holds exactly FILE's bytes under KEY
	rm -f got
	direct getone "$1" got >/dev/null 2>&1 && cmp -s got "$2"
}

head -c 300000 /dev/urandom >small
head -c 12000000 /dev/urandom >big

SIGNED='{}'
UNSIGNED='{payload_signing: "unsigned"}'
MD5='{payload_signing: "unsigned", checksum: "md5"}'
NONE='{payload_signing: "unsigned", checksum: "none"}'

# --- every body corrupted: refused, after the retries (exit 10 + STORE_EDIGEST = 31)
fp_start -c 1
rc=0; viaproxy "{retries: 1} + $SIGNED" put s.signed small >/dev/null 2>err || rc=$?
it_check_eq "signed payload, corrupted body: refused" 31 "$rc"
it_check "...by RGW's SHA-256 check" grep -q XAmzContentSHA256Mismatch err
rc=0; viaproxy "{retries: 1} + $UNSIGNED" put s.unsigned small >/dev/null 2>err || rc=$?
it_check_eq "unsigned payload, checksum=auto: refused" 31 "$rc"
it_check "...by the ETag check" grep -q "is not the MD5 of the data sent" err
it_check "...and the corrupted object is deleted" grep -q "the corrupted object was deleted" err
rc=0; direct head s.unsigned >/dev/null 2>&1 || rc=$?
it_check_eq "...it is not on the server" 11 "$rc"
rc=0; viaproxy "{retries: 1} + $MD5" put s.md5 small >/dev/null 2>err || rc=$?
it_check_eq "unsigned payload, checksum=md5: refused" 31 "$rc"
it_check "...by RGW's Content-MD5 check" grep -q BadDigest err
rc=0; viaproxy "{retries: 1} + $UNSIGNED" putfile b.unsigned big --part-size 5242880 --parallel 2 \
	>/dev/null 2>err || rc=$?
it_check_eq "unsigned multipart, checksum=auto: a corrupted part is refused" 31 "$rc"
it_check "...by the ETag check of the part" grep -q "upload part.*is not the MD5 of the data sent" err
rc=0; viaproxy "$NONE" put s.none small >/dev/null 2>err || rc=$?
it_check_eq "checksum=none: the corrupted body is accepted" 0 "$rc"
it_check "...and stored corrupted (nothing checks it)" it_not exact s.none small
fp_stop

# --- only the first body corrupted: the retry stores the exact bytes
for cfg in SIGNED UNSIGNED MD5; do
	fp_start -c 1 -m 1
	it_check "$cfg: corrupted once, the PUT succeeds" viaproxy "${!cfg}" put "s.$cfg" small
	fp_stop
	it_check_eq "...one body was corrupted" 1 "$(corrupted)"
	it_check "...the server holds the exact bytes" exact "s.$cfg" small
done
fp_start -c 1 -m 2
it_check "unsigned multipart, two parts corrupted once: succeeds" \
	viaproxy "$UNSIGNED" putfile b.unsigned big --part-size 5242880 --parallel 2
fp_stop
it_check "...exact on the server" exact b.unsigned big

# --- through a mount: digests computed while writing, bodies corrupted at random
it_need_fuse
M=$IT_DIR/mnt
for cfg in signed unsigned; do
	opts=spool=$IT_DIR/spool-$cfg
	[ $cfg = unsigned ] && opts=$opts,payload_signing=unsigned
	fp_start -s 5 -c 0.4 -m 6
	real=$IT_ENDPOINT
	IT_ENDPOINT=http://127.0.0.1:$FP_PORT
	it_mount "s3://$IT_BUCKET/$P/m-$cfg" "$M" -o "$opts,part_size=5M"
	IT_ENDPOINT=$real
	fails=0
	for f in small big; do
		dd if=$f of="$M/$f" bs=64k status=none 2>/dev/null || fails=$((fails + 1))
	done
	# and one written with a seek back: no digests, hashed at commit
	python3 - "$M/rw" <<'EOF' || fails=$((fails + 1))
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"x" * 100000)
os.pwrite(fd, b"hello", 10)
os.close(fd)
EOF
	it_umount "$M"
	fp_stop
	it_check_eq "$cfg mount: every close() succeeds through corrupted bodies" 0 "$fails"
	it_check "...bodies were corrupted ($(corrupted))" test "$(corrupted)" -ge 1
	it_check "...the single PUT is exact" exact "m-$cfg/small" small
	it_check "...the multipart object is exact" exact "m-$cfg/big" big
	python3 -c 'import sys; b = bytearray(b"x" * 100000); b[10:15] = b"hello"; sys.stdout.buffer.write(b)' >rw
	it_check "...the rewritten file is exact" exact "m-$cfg/rw" rw
done

mapfile -t keys < <(direct list --all | jq -r 'select(.key) | .key')
[ ${#keys[@]} -gt 0 ] && direct delmany "${keys[@]}" >/dev/null
it_done
