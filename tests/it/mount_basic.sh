#!/usr/bin/env bash
# tests/it/mount_basic.sh: smoke test of `stepfs mount` on the local-directory
# backend: real FUSE mount, real tools, results checked in the bucket
# directory, and the one-commit-per-mutation contract checked through the
# events_file test sink. Exit 77 (skip) without /dev/fuse.
set -u
BIN=${STEPFS_BIN:-$PWD/build/default/stepfs}
[ -c /dev/fuse ] && command -v fusermount3 >/dev/null || { echo "no FUSE here"; exit 77; }
[ -x "$BIN" ] || { echo "no stepfs binary at $BIN"; exit 1; }
W=$(mktemp -d /tmp/stepfs-it-XXXXXX)
B=$W/bucket M=$W/mnt EV=$W/events.jsonl
mkdir -p "$B" "$M"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # description, command...
	local d=$1; shift
	if "$@"; then ok; else bad "$d"; fi
}
cleanup() {
	fusermount3 -u "$M" 2>/dev/null
	[ -n "${PID:-}" ] && wait "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
mount_it() {
	"$BIN" mount "$B" "$M" -f -o "spool=$W/spool,events_file=$EV,attr_ttl=1" "$@" 2>>"$W/log" &
	PID=$!
	for _ in $(seq 50); do mountpoint -q "$M" && return 0; sleep 0.1; done
	echo "mount failed:"; cat "$W/log"; exit 1
}
events() { [ -f "$EV" ] && grep -c "$1" "$EV" || echo 0; }
meta() { # key field -> x-amz-meta value as the local backend stores it
	cat "$B"/.stepfs-meta/m/* | jq -r --arg k "$1" --arg f "$2" \
		'select(.key == $k) | .meta[$f] // empty' 2>/dev/null
}

mount_it

# create + write: exactly one Put, content in the bucket
echo hello > "$M/a.txt"
check "content in bucket" test "$(cat "$B/a.txt")" = hello
check "one Put for echo >" test "$(events '"key":"a.txt"')" = 1
check "read back" test "$(cat "$M/a.txt")" = hello

# open + close without writes commits nothing
: < "$M/a.txt"
python3 -c "import os; os.close(os.open('$M/a.txt', os.O_RDWR))"
check "no commit without writes" test "$(events '"key":"a.txt"')" = 1

# append, pwrite in the middle, truncate(2) by path on a closed file
echo world >> "$M/a.txt"
check "append" test "$(cat "$B/a.txt")" = "$(printf 'hello\nworld')"
printf 'J' | dd of="$M/a.txt" bs=1 seek=1 conv=notrunc status=none
check "pwrite in the middle" test "$(head -c 5 "$B/a.txt")" = hJllo
truncate -s 3 "$M/a.txt"
check "truncate by path" test "$(cat "$B/a.txt")" = hJl
check "truncate size" test "$(stat -c %s "$M/a.txt")" = 3

# dup + fork: several flushes, one commit
python3 - "$M/dup.txt" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"one\n")
d = os.dup(fd)
pid = os.fork()
if pid == 0:
    os.close(d); os.close(fd); os._exit(0)
os.waitpid(pid, 0)
os.close(d)
os.close(fd)
EOF
check "dup+fork content" test "$(cat "$B/dup.txt")" = one
check "dup+fork one commit" test "$(events '"key":"dup.txt"')" = 1

# open-unlink-read
python3 - "$M/ul.txt" <<'EOF'
import os, sys
p = sys.argv[1]
with open(p, "w") as f: f.write("still here")
fd = os.open(p, os.O_RDONLY)
os.unlink(p)
assert not os.path.exists(p)
assert os.read(fd, 100) == b"still here"
os.close(fd)
EOF
check "open-unlink-read" test $? = 0
check "unlinked object gone" test ! -e "$B/ul.txt"

# directories, rename (file and directory), rmdir
mkdir -p "$M/d1/d2"
echo x > "$M/d1/d2/f"
check "marker + file" test -f "$B/d1/d2/f"
mv "$M/d1/d2/f" "$M/d1/g"
check "rename file" test "$(cat "$B/d1/g")" = x
check "rename file source gone" test ! -e "$B/d1/d2/f"
mv "$M/d1" "$M/d3"
check "rename dir" test "$(cat "$M/d3/g")" = x
check "rename dir in bucket" test -f "$B/d3/g" -a ! -e "$B/d1"
check "rmdir non-empty refused" sh -c "! rmdir '$M/d3' 2>/dev/null"
rm "$M/d3/g"
rmdir "$M/d3/d2" && rmdir "$M/d3"
check "rmdir" test ! -e "$M/d3" -a ! -e "$B/d3"
ls "$M" >/dev/null

# symlink, chmod, chown, touch -d: s3fs's metadata
ln -s a.txt "$M/lnk"
check "readlink" test "$(readlink "$M/lnk")" = a.txt
check "symlink body" test "$(cat "$B/lnk")" = a.txt
check "symlink mode 41471" test "$(meta lnk mode)" = 41471
chmod 600 "$M/a.txt"
check "chmod stored" test "$(meta a.txt mode)" = 33152
check "chmod visible" test "$(stat -c %a "$M/a.txt")" = 600
chown 1234:5678 "$M/a.txt"
check "chown stored" test "$(meta a.txt uid):$(meta a.txt gid)" = 1234:5678
touch -d @1000000000 "$M/a.txt"
check "mtime stored" test "$(meta a.txt mtime)" = 1000000000
check "mtime visible" test "$(stat -c %Y "$M/a.txt")" = 1000000000
check "hardlink refused" sh -c "! ln '$M/a.txt' '$M/hard' 2>/dev/null"

# keys with spaces, +, %, unicode, shell metacharacters
n='sp ace+pl%us é $(x);`y`'
echo odd > "$M/$n"
check "odd key" test "$(cat "$B/$n")" = odd
check "odd key listed" sh -c "ls '$M' | grep -qF 'sp ace+pl%us'"

# larger file: multipart (part_size 5M) and read back
head -c 12M /dev/urandom > "$W/big"
cp "$W/big" "$M/big"
check "multipart content" cmp -s "$W/big" "$B/big"
check "multipart event" test "$(events 'CompleteMultipartUpload')" = 1
check "read back big" cmp -s "$W/big" "$M/big"
dd if="$M/big" of="$W/part" bs=4096 skip=1000 count=3 status=none
check "random read" cmp -s "$W/part" <(dd if="$W/big" bs=4096 skip=1000 count=3 status=none)

# parts uploaded while writing, then a write back into an uploaded part
python3 - "$M/stream" "$W/stream.want" <<'EOF2'
import os, sys, time
data = bytearray(os.urandom(20 << 20))
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
for i in range(0, len(data), 1 << 20):
    os.write(fd, data[i:i + (1 << 20)])
time.sleep(1)  # parts 1 and 2 are uploaded meanwhile
os.pwrite(fd, b"changed", 10)
data[10:17] = b"changed"
os.close(fd)
open(sys.argv[2], "wb").write(data)
EOF2
check "streamed upload with a rewritten part" cmp -s "$W/stream.want" "$B/stream"
check "one event for it" test "$(events '"key":"stream"')" = 1

# remount: metadata survives
fusermount3 -u "$M"; wait "$PID"; PID=
mount_it
check "mode after remount" test "$(stat -c %a "$M/a.txt")" = 600
check "symlink after remount" test "$(readlink "$M/lnk")" = a.txt

# a directory made directly in the bucket directory: shown even when empty,
# with its own mode; usable as a folder
mkdir -m 0750 "$B/byhand" "$B/byhand2"
check "hand-made empty dir listed" sh -c "ls '$M' | grep -qx byhand"
check "hand-made empty dir is a dir" test -d "$M/byhand"
check "hand-made dir mode" test "$(stat -c %a "$M/byhand")" = 750
check "hand-made dir lists empty" test -z "$(ls -A "$M/byhand")"
echo in > "$M/byhand/f"
check "file into hand-made dir" test "$(cat "$B/byhand/f")" = in
check "rmdir of a hand-made empty dir" rmdir "$M/byhand2"
check "... removes it from the bucket" test ! -e "$B/byhand2"

echo "mount_basic: $pass passed, $fail failed"
[ "$fail" = 0 ]
