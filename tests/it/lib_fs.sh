# tests/it/lib_fs.sh: the file-system test suite shared by fs_s3.sh and
# fs_local.sh (sourced after lib.sh). Real tools on a real mount; every result
# is checked twice: through the mount and in the backend, behind the mount's
# back (awscli for S3, the directory for the local backend).
#
# The caller defines the backend view, for relative paths REL under the
# mount's root:
#   be_get REL FILE      copy the stored object REL into FILE (fail if absent)
#   be_exists REL        true if object REL exists
#   be_metadata REL      print the x-amz-meta-* of REL as a JSON object
#                        (names without the prefix; fail if REL is absent)
#   be_put REL FILE      store FILE as object REL behind the mount's back
#   be_get_dir REL DIR   copy every object under REL/ into DIR (names relative to REL/)
#   be_put_dir DIR REL   store every file of DIR as an object under REL/
#   be_keys REL          print the keys under REL/, relative to the root, sorted
#   fs_remount           unmount $M and mount it again
# and sets M (the mount point) and FS_HAVE_META (1 if be_meta works).

FS_OPS=$(it_need_helper helper_fsops)

# the data a test writes: local copies live in $IT_DIR/src
fs_prepare() {
	mkdir -p "$IT_DIR/src"
	head -c 1048576 /dev/urandom >"$IT_DIR/src/1m"
	head -c 5000 /dev/urandom >"$IT_DIR/src/5k"
	printf 'hello world\n' >"$IT_DIR/src/hello"
}

# mode_dec PATH: st_mode as the decimal number s3fs stores in x-amz-meta-mode
mode_dec() {
	echo $((16#$(stat -c %f "$1")))
}

# fs_check_stored DESC REL LOCALFILE: the object REL holds LOCALFILE's bytes
fs_check_stored() {
	local got=$IT_DIR/stored.$$
	rm -f "$got"
	if be_get "$2" "$got"; then
		it_check "$1" cmp "$3" "$got"
	else
		it_check "$1 (object '$2' missing)" false
	fi
	rm -f "$got"
}

# be_meta REL FIELD: x-amz-meta-FIELD of REL ("" if absent)
be_meta() {
	be_metadata "$1" | jq -r --arg f "$2" '.[$f] // ""'
}

# fs_check_meta REL: x-amz-meta-mode/uid/gid/mtime of REL match stat through the mount
fs_check_meta() {
	local rel=$1 p=$M/$1 md
	[ "$FS_HAVE_META" = 1 ] || return 0
	md=$(be_metadata "$rel") || md='{}'
	it_check_eq "$rel: x-amz-meta mode/uid/gid/mtime = stat" \
		"$(mode_dec "$p") $(stat -c '%u %g %Y' "$p")" \
		"$(jq -r '"\(.mode) \(.uid) \(.gid) \(.mtime // "" | split(".")[0])"' <<<"$md")"
}

# ---- real tools -------------------------------------------------------------
fs_test_tools() {
	local S=$IT_DIR/src
	cd "$M"

	it_check "mkdir -p a/b/c" mkdir -p a/b/c
	it_check "a/b/c is a directory" test -d a/b/c
	it_check "a/b/ is a directory marker in the backend" be_exists a/b/c/

	it_check "cp 1 MiB file" cp "$S/1m" a/b/c/one
	it_check "cat through the mount" cmp "$S/1m" a/b/c/one
	fs_check_stored "cp: object stored byte-exact at close" a/b/c/one "$S/1m"
	it_check_eq "ls -l size" 1048576 "$(ls -l a/b/c/one | awk '{print $5}')"
	it_check_eq "stat type" "regular file" "$(stat -c %F a/b/c/one)"
	fs_check_meta a/b/c/one

	it_check "dd 20 MiB, conv=fsync" dd if=/dev/urandom of="$IT_DIR/src/20m" bs=1M count=20 status=none
	it_check "dd into the mount" dd if="$IT_DIR/src/20m" of=big bs=1M conv=fsync status=none
	it_check "dd'd file reads back" cmp "$IT_DIR/src/20m" big
	fs_check_stored "dd: 20 MiB object byte-exact" big "$IT_DIR/src/20m"

	it_check "cat > file" bash -c 'cat "$1" >hello' _ "$S/hello"
	fs_check_stored "cat: stored" hello "$S/hello"
	it_check "cat >> file (append)" bash -c 'echo more >>hello'
	printf 'hello world\nmore\n' >"$IT_DIR/hello2"
	it_check "appended content through the mount" cmp "$IT_DIR/hello2" hello
	fs_check_stored "append: stored" hello "$IT_DIR/hello2"

	it_check "touch -d" touch -d '2001-02-03 04:05:06 UTC' hello
	it_check_eq "stat mtime after touch -d" 981173106 "$(stat -c %Y hello)"
	it_check "chmod 0640" chmod 0640 hello
	it_check_eq "stat mode after chmod" 640 "$(stat -c %a hello)"
	it_check "chown 1234:5678" chown 1234:5678 hello
	it_check_eq "stat owner after chown" 1234:5678 "$(stat -c %u:%g hello)"
	it_check_eq "mtime kept by chmod/chown" 981173106 "$(stat -c %Y hello)"
	if [ "$FS_HAVE_META" = 1 ]; then
		it_check_eq "x-amz-meta mode/uid/gid/mtime after chmod 0640, chown, touch -d" \
			"33184 1234 5678 981173106" \
			"$(be_metadata hello | jq -r '"\(.mode) \(.uid) \(.gid) \(.mtime // "" | split(".")[0])"')"
	fi
	fs_check_stored "metadata changes keep the content" hello "$IT_DIR/hello2"

	it_check "ln -s" ln -s a/b/c/one link
	it_check_eq "readlink" a/b/c/one "$(readlink link)"
	it_check "read through the symlink" cmp "$S/1m" link
	it_check_eq "lstat type" "symbolic link" "$(stat -c %F link)"
	if [ "$FS_HAVE_META" = 1 ]; then
		fs_check_stored "symlink object body is the target" link <(printf a/b/c/one)
		it_check_eq "symlink x-amz-meta-mode is S_IFLNK|0777" 41471 "$(be_meta link mode)"
	fi

	it_check "mv file" mv a/b/c/one a/moved
	it_check "old name gone" test ! -e a/b/c/one
	it_check "new name has the content" cmp "$S/1m" a/moved
	it_check "old object gone" it_not be_exists a/b/c/one
	fs_check_stored "mv: new object byte-exact" a/moved "$S/1m"
	fs_check_meta a/moved

	mkdir -p "$IT_DIR/tree/d1/d2" "$IT_DIR/tree/e"
	for f in f1 d1/f2 d1/d2/f3 e/f4; do head -c $((RANDOM * 7)) /dev/urandom >"$IT_DIR/tree/$f"; done
	chmod 0600 "$IT_DIR/tree/d1/f2"
	chmod 0755 "$IT_DIR/tree/d1/d2/f3"
	touch -d '2010-01-01 00:00:00 UTC' "$IT_DIR/tree/e/f4"
	it_check "cp -a a tree" cp -a "$IT_DIR/tree" tree
	it_check "diff -r after cp -a" diff -r "$IT_DIR/tree" tree
	it_check "mv directory" mv tree tree2
	it_check "diff -r after directory mv" diff -r "$IT_DIR/tree" tree2
	it_check_eq "keys moved with the directory" "$(cd "$IT_DIR/tree" && find . -type f | sed 's|^\./||' | LC_ALL=C sort | tr '\n' ' ')" \
		"$(be_keys tree2 | grep -v '/$' | sed 's|^tree2/||' | tr '\n' ' ')"
	it_check_eq "no keys left under the old directory name" "" "$(be_keys tree)"
	it_check_eq "mode kept across directory mv" 600 "$(stat -c %a tree2/d1/f2)"
	it_check_eq "mtime kept across directory mv" 1262304000 "$(stat -c %Y tree2/e/f4)"

	# tar x with modes, owners, mtimes and symlinks, then tar's own compare
	mkdir -p "$IT_DIR/tarsrc/x/y"
	printf 'x\n' >"$IT_DIR/tarsrc/x/file"
	head -c 300000 /dev/urandom >"$IT_DIR/tarsrc/x/y/data"
	ln -s ../file "$IT_DIR/tarsrc/x/y/ln"
	chmod 0751 "$IT_DIR/tarsrc/x/y/data"
	chown 4321:8765 "$IT_DIR/tarsrc/x/file"
	touch -h -d '2005-05-05 05:05:05 UTC' "$IT_DIR/tarsrc/x/file" "$IT_DIR/tarsrc/x/y/data"
	(cd "$IT_DIR/tarsrc" && tar cf "$IT_DIR/t.tar" x)
	mkdir tarx
	it_check "tar xpf" tar xpf "$IT_DIR/t.tar" -C tarx
	it_check "tar --compare (content, mode, owner, mtime, link target)" tar --compare -f "$IT_DIR/t.tar" -C tarx
	fs_check_meta tarx/x/file
	fs_check_meta tarx/x/y/data

	# rsync -a, then a second rsync that must find nothing to do
	it_check "rsync -a" rsync -a "$IT_DIR/tarsrc/" rs/
	out=$(rsync -a --itemize-changes --dry-run "$IT_DIR/tarsrc/" rs/ 2>&1)
	it_check_eq "rsync -a again: nothing differs" "" "$out"
	it_check "diff -r after rsync" diff -r "$IT_DIR/tarsrc" rs

	it_check "rm -r" rm -r tarx
	it_check "rm -r removed it" test ! -e tarx
	it_check_eq "rm -r removed every key" "" "$(be_keys tarx)"
	it_check "rmdir of an empty directory" rmdir a/b/c
	it_check "its marker is gone" it_not be_exists a/b/c/
	it_check "rm file" rm a/moved
	it_check "object gone after rm" it_not be_exists a/moved
	cd "$IT_DIR"
}

# ---- small programs ---------------------------------------------------------
fs_test_programs() {
	cd "$M"
	printf abc >ap
	it_check "O_APPEND write" "$FS_OPS" append ap def
	it_check_eq "O_APPEND result" abcdef "$(cat ap)"
	fs_check_stored "O_APPEND stored" ap <(printf abcdef)

	printf 0123456789 >pw
	it_check "pwrite in the middle" "$FS_OPS" pwrite pw 3 XY
	it_check_eq "pwrite result" 012XY56789 "$(cat pw)"
	fs_check_stored "pwrite stored" pw <(printf 012XY56789)
	it_check "pwrite beyond the end (hole)" "$FS_OPS" pwrite pw 12 Z
	fs_check_stored "hole reads as zeros" pw <(printf '012XY56789\0\0Z')

	printf 0123456789 >tr
	it_check "truncate(2) of a closed file, shrink" "$FS_OPS" truncate tr 4
	it_check_eq "size after shrink" 4 "$(stat -c %s tr)"
	fs_check_stored "shrunk object keeps its first bytes" tr <(printf 0123)
	it_check "truncate(2) of a closed file, grow" "$FS_OPS" truncate tr 6
	fs_check_stored "grown object is zero-filled" tr <(printf '0123\0\0')
	it_check "ftruncate to 0" "$FS_OPS" ftruncate tr 0
	it_check_eq "size after ftruncate 0" 0 "$(stat -c %s tr)"
	fs_check_stored "empty object" tr /dev/null

	cp "$IT_DIR/src/5k" ul
	it_check "open, unlink, read through the descriptor" it_to /dev/null "$FS_OPS" unlinkread ul
	"$FS_OPS" unlinkread ul 2>/dev/null && it_check "second unlinkread fails: name is gone" false
	cp "$IT_DIR/src/5k" ul2
	"$FS_OPS" unlinkread ul2 >"$IT_DIR/ul2.out" || true
	it_check "unlinked file still read whole" cmp "$IT_DIR/src/5k" "$IT_DIR/ul2.out"
	it_check "unlinked object gone" it_not be_exists ul2

	it_check "dup + fork: three flushes" "$FS_OPS" dupfork df first- second
	it_check_eq "dup + fork result" first-second "$(cat df)"
	fs_check_stored "dup + fork stored whole" df <(printf first-second)

	it_check "fsync then close" "$FS_OPS" fsync fs synced
	fs_check_stored "fsync stored" fs <(printf synced)

	it_check "write 12 MiB pattern" "$FS_OPS" write pat 12582912 7
	"$FS_OPS" pattern 12582912 7 >"$IT_DIR/pat"
	fs_check_stored "12 MiB pattern stored" pat "$IT_DIR/pat"
	it_check_eq "random read in the middle" "$("$FS_OPS" readat "$IT_DIR/pat" 7000001 100 | od -An -tx1)" \
		"$("$FS_OPS" readat pat 7000001 100 | od -An -tx1)"
	cd "$IT_DIR"
}

# ---- awkward names ------------------------------------------------------------
FS_NAMES=('with space' 'plus+sign' 'percent%20d' 'ünïcødé ☃' 'sh$(x);`y`&|<>*?'"'"'"q' 'tab	in' '#hash' 'a=b,c' '~tilde')
fs_test_names() {
	local n i=0
	cd "$M"
	mkdir names
	for n in "${FS_NAMES[@]}"; do
		i=$((i + 1))
		printf '%s' "$n" >"names/$n"
	done
	it_check_eq "awkward names: the keys are the names, byte for byte" \
		"$(printf 'names/%s\n' "${FS_NAMES[@]}" | LC_ALL=C sort)" "$(be_keys names | grep -v '/$')"
	mkdir -p "$IT_DIR/names.got" "$IT_DIR/ext"
	be_get_dir names "$IT_DIR/names.got"
	for n in "${FS_NAMES[@]}"; do
		it_check "content of '$n' stored" cmp <(printf '%s' "$n") "$IT_DIR/names.got/$n"
	done
	# objects made behind the mount's back show up with their names
	for n in "${FS_NAMES[@]}"; do
		printf 'ext %s' "$n" >"$IT_DIR/ext/$n"
	done
	be_put_dir "$IT_DIR/ext" ext-names
	it_check_eq "names put by the backend are listed" "$(printf '%s\n' "${FS_NAMES[@]}" | LC_ALL=C sort)" \
		"$(LC_ALL=C ls -A ext-names | LC_ALL=C sort)"
	for n in "${FS_NAMES[@]}"; do
		it_check "read '$n' put by the backend" cmp "$IT_DIR/ext/$n" "ext-names/$n"
	done
	cd "$IT_DIR"
}

# fs_wait_gone PATH TENTHS: true once PATH does not exist, polling for TENTHS/10 s
fs_wait_gone() {
	local i
	for ((i = 0; i < $2; i++)); do
		[ -e "$1" ] || return 0
		sleep 0.1
	done
	return 1
}

# ---- implicit directories, statfs, special files, xattrs ----------------------
fs_test_dirs() {
	local out rc
	cd "$M"
	printf 'deep\n' >"$IT_DIR/deep"
	be_put impl/x/y.txt "$IT_DIR/deep"
	it_check_eq "a key's prefixes are directories (no markers)" "directory directory" \
		"$(stat -c %F impl impl/x | tr '\n' ' ' | sed 's/ $//')"
	it_check_eq "...listed" y.txt "$(ls impl/x)"
	it_check "...readable" cmp "$IT_DIR/deep" impl/x/y.txt
	it_check "rm of the only key" rm impl/x/y.txt
	# (the kernel and the metadata cache may keep the name for their TTL: 1 s here)
	it_check "the implicit directories vanish with it (within 3 s)" fs_wait_gone impl 30
	it_check "statfs works (df)" df "$M"
	rc=0
	out=$(mkfifo fifo 2>&1) || rc=$?
	if [ "$rc" = 0 ]; then
		it_check_eq "mkfifo accepted: it is a fifo" fifo "$(stat -c %F fifo)"
		rm -f fifo
	else
		it_check "mkfifo refused with an errno (not silently)" test ! -e fifo
	fi
	echo x >xa
	rc=0
	out=$(setfattr -n user.k -v v xa 2>&1) || rc=$?
	if [ "$rc" = 0 ]; then
		it_check_eq "xattr set: it reads back" v "$(getfattr --only-values -n user.k xa 2>&1)"
	else
		it_check "xattr refused with an errno: '$out'" grep -qE 'not supported|not permitted' <<<"$out"
	fi
	rm -f xa
	cd "$IT_DIR"
}

# ---- refusals get the right errno -------------------------------------------
fs_test_errors() {
	local out
	cd "$M"
	mkdir -p err/full
	echo x >err/full/f
	out=$(rmdir err/full 2>&1) || true
	it_check "rmdir of a non-empty directory: ENOTEMPTY" grep -q 'not empty' <<<"$out"
	out=$(mkdir err/full 2>&1) || true
	it_check "mkdir of an existing directory: EEXIST" grep -q 'File exists' <<<"$out"
	out=$(cat err/nothing 2>&1) || true
	it_check "cat of a missing file: ENOENT" grep -q 'No such file' <<<"$out"
	out=$(ln err/full/f err/hard 2>&1) && rc=0 || rc=$?
	it_check "hard link refused, not silently accepted" test "$rc" != 0
	it_check "no object for the refused hard link" it_not be_exists err/hard
	cd "$IT_DIR"
}

# ---- after a remount everything is still there --------------------------------
fs_test_remount() {
	local before after
	before=$(cd "$M" && find . -path ./ext-names -prune -o -print0 | LC_ALL=C sort -z |
		xargs -0 stat -c '%n %F %a %u %g %Y %s' | grep -v '^\. ')
	fs_remount
	after=$(cd "$M" && find . -path ./ext-names -prune -o -print0 | LC_ALL=C sort -z |
		xargs -0 stat -c '%n %F %a %u %g %Y %s' | grep -v '^\. ')
	it_check_eq "after remount: names, types, modes, owners, mtimes, sizes" "$before" "$after"
	it_check "after remount: content" cmp "$IT_DIR/src/20m" "$M/big"
	it_check_eq "after remount: symlink" a/b/c/one "$(readlink "$M/link")"
}
