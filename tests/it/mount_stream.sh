#!/usr/bin/env bash
# tests/it/mount_stream.sh: multipart uploads started while a program is
# still writing, on Ceph RGW with the default integrity settings (the parts'
# SHA-256 computed as they are written), checked with awscli:
#   1. a 23 MiB file written in 1 MiB pieces (part_size 5M): before close()
#      the upload exists on the server with parts in it; after close() the
#      object has the exact bytes, and no upload is left; its ETag (MD5 of
#      the parts' MD5s) proves the parts grew: 5, 5, 10 and 3 MiB
#      (fs/parts.h); with part_max=5M (part 4) they are 5 MiB each;
#   2. a part rewritten after it was uploaded (the running digests are
#      dropped, the part is sent again): exact bytes;
#   3. a file unlinked before close(): no object, and its upload is aborted.
set -e
. "$(dirname "$0")/lib.sh"
it_need_s3
it_need_fuse
it_need_cmd jq cmp python3
M=$IT_DIR/mnt
K=$IT_PREFIX
cd "$IT_DIR"
it_mount "s3://$IT_BUCKET/${K%/}" "$M" -o "spool=$IT_DIR/spool,part_size=5M,parallel=2"

uploads() { # KEY: upload ids of in-progress multipart uploads of KEY
	aws_s3api list-multipart-uploads --bucket "$IT_BUCKET" --prefix "$K$1" |
		jq -r --arg k "$K$1" '(.Uploads // [])[] | select(.Key == $k) | .UploadId'
}
nparts() { # KEY UPLOADID: parts uploaded so far
	aws_s3api list-parts --bucket "$IT_BUCKET" --key "$K$1" --upload-id "$2" |
		jq '(.Parts // []) | length'
}
wait_parts() { # KEY MIN: an upload of KEY holds at least MIN parts (within 20 s)
	local id n
	for _ in $(seq 100); do
		id=$(uploads "$1" | head -n 1)
		if [ -n "$id" ]; then
			n=$(nparts "$1" "$id")
			[ "${n:-0}" -ge "$2" ] && return 0
		fi
		sleep 0.2
	done
	return 1
}
# writer FILE SRC MODE: write SRC into FILE in 1 MiB pieces, touch FILE.ready,
# wait for FILE.go, then (MODE=unlink: unlink first) close; prints close's result
writer() {
	python3 - "$@" <<'EOF'
import os, sys, time
path, src, mode = sys.argv[1], sys.argv[2], sys.argv[3]
tag = os.path.basename(path)
data = open(src, "rb").read()
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for i in range(0, len(data), 1 << 20):
    os.write(fd, data[i:i + (1 << 20)])
if mode == "rewrite":  # part 2 again, after it was uploaded, then more
    time.sleep(1.5)
    os.pwrite(fd, b"REWRITTEN" * 1000, (5 << 20) + 12345)
    os.write(fd, b"tail" * 1000)
open(tag + ".ready", "w").close()
while not os.path.exists(tag + ".go"):
    time.sleep(0.05)
if mode == "unlink":
    os.unlink(path)
try:
    os.close(fd)
    print("ok")
except OSError as e:
    print(os.strerror(e.errno))
EOF
}
wait_file() { for _ in $(seq 200); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }

head -c $((23 << 20)) /dev/urandom >big

# 1. parts on the server while the program still writes
writer "$M/big" big plain >big.out &
wp=$!
wait_file big.ready
it_check "before close(): an upload with parts uploaded while writing" wait_parts big 2
touch big.go
wait $wp
it_check_eq "close() succeeds" ok "$(cat big.out)"
rm -f got
aws_s3 cp --only-show-errors "s3://$IT_BUCKET/${K}big" got
it_same_file "awscli reads back the exact bytes" big got
# mpu_etag FILE MiB...: the ETag S3 gives a multipart object with these part sizes
mpu_etag() {
	python3 - "$@" <<'EOF'
import hashlib, sys
data, sizes = open(sys.argv[1], "rb").read(), [int(x) << 20 for x in sys.argv[2:]]
sizes[-1] = len(data) - sum(sizes[:-1])
md5s, off = b"", 0
for n in sizes:
    md5s += hashlib.md5(data[off:off + n]).digest()
    off += n
print('"%s-%d"' % (hashlib.md5(md5s).hexdigest(), len(sizes)))
EOF
}
etag=$(aws_s3api head-object --bucket "$IT_BUCKET" --key "${K}big" | jq -r .ETag)
it_check_eq "...of 4 growing parts: 5, 5, 10, 3 MiB (ETag)" "$(mpu_etag big 5 5 10 3)" "$etag"
it_check_eq "no upload left in progress" "" "$(uploads big)"

# 2. a part rewritten after its upload: sent again, exact bytes
writer "$M/rw" big rewrite >rw.out &
wp=$!
wait_file rw.ready
touch rw.go
wait $wp
python3 - big rw.want <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[(5 << 20) + 12345:(5 << 20) + 12345 + 9000] = b"REWRITTEN" * 1000
b += b"tail" * 1000
open(sys.argv[2], "wb").write(b)
EOF
it_check_eq "rewritten part: close() succeeds" ok "$(cat rw.out)"
rm -f got
aws_s3 cp --only-show-errors "s3://$IT_BUCKET/${K}rw" got
it_same_file "...awscli reads back the exact bytes" rw.want got
it_check_eq "...no upload left in progress" "" "$(uploads rw)"

# 3. unlinked before close(): nothing committed, the upload aborted
writer "$M/gone" big unlink >gone.out &
wp=$!
wait_file gone.ready
it_check "unlinked file: its upload had parts before the unlink" wait_parts gone 2
touch gone.go
wait $wp
it_check_eq "...close() after the unlink succeeds" ok "$(cat gone.out)"
gone_aborted() { for _ in $(seq 50); do [ -z "$(uploads gone)" ] && return 0; sleep 0.2; done; return 1; }
it_check "...the multipart upload is aborted" gone_aborted
it_check "...no object" it_not it_s3_exists "${K}gone"

it_umount "$M"

# 4. part_max = part_size: parts of one size
it_mount "s3://$IT_BUCKET/${K%/}" "$M" -o "spool=$IT_DIR/spool,part_size=5M,part_max=5M,parallel=2"
cp big "$M/fixed"
etag=$(aws_s3api head-object --bucket "$IT_BUCKET" --key "${K}fixed" | jq -r .ETag)
it_check_eq "part_max=5M: 5 parts of 5 MiB, the last 3 MiB (ETag)" "$(mpu_etag big 5 5 5 5 3)" "$etag"
it_umount "$M"
it_done
