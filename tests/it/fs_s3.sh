#!/usr/bin/env bash
# tests/it/fs_s3.sh: `stepfs mount s3://BUCKET/PREFIX` on the real Ceph RGW,
# driven with real tools (tests/it/lib_fs.sh), every result checked with
# awscli (content and x-amz-meta-mode/uid/gid/mtime); then s3fs mounted on the
# same prefix must show the same modes, owners and mtimes, and what s3fs
# writes stepfs must show. The suite runs with -o exact_attrs (a HEAD per
# listed entry, as s3fs does); the default (listing attributes in ls -l,
# exact ones for single lookups and after a change made here) is checked at
# the end.
#
# STEPFS_IT_FS_MOUNTER=s3fs runs the same suite on an s3fs mount instead
# (a check of the suite itself against the reference for the metadata).
set -e
. "$(dirname "$0")/lib.sh"
it_need_s3
it_need_fuse
it_need_cmd jq rsync tar
MOUNTER=${STEPFS_IT_FS_MOUNTER:-stepfs}
[ "$MOUNTER" = s3fs ] && it_need_cmd s3fs
. "$(dirname "$0")/lib_fs.sh"

K=$IT_PREFIX        # key prefix of the mount's root, ends in /
M=$IT_DIR/mnt
FS_HAVE_META=1

be_get() { it_s3_get "$K$1" "$2" 2>/dev/null; }
be_exists() { it_s3_exists "$K$1"; }
be_metadata() { it_s3_meta "$K$1" | jq -c '.Metadata // {}'; }
be_put() { it_s3_put "$K$1" "$2"; }
be_get_dir() { aws_s3 cp --only-show-errors --recursive "s3://$IT_BUCKET/$K$1/" "$2"; }
be_put_dir() { aws_s3 cp --only-show-errors --recursive "$1" "s3://$IT_BUCKET/$K$2/"; }
be_keys() { it_s3_keys "$K$1/" | sed "s|^$K||"; }

fs_mount() {
	if [ "$MOUNTER" = s3fs ]; then
		# the prefix must exist for s3fs BUCKET:/PREFIX
		: >"$IT_DIR/empty"
		it_s3_exists "$K" || it_s3_put "$K" "$IT_DIR/empty"
		IT_S3FS_PREFIX=${K%/} it_s3fs_mount "$M" -o stat_cache_expire=1
	else
		it_mount "s3://$IT_BUCKET/${K%/}" "$M" -o attr_ttl=1,exact_attrs
	fi
}
fs_remount() {
	it_umount "$M"
	fs_mount
}

fs_prepare
fs_mount
fs_test_tools
fs_test_programs
fs_test_names
fs_test_dirs
fs_test_errors
fs_test_remount

if [ "$MOUNTER" = stepfs ] && command -v s3fs >/dev/null; then
	# s3fs on the same prefix sees what stepfs wrote ...
	S=$IT_DIR/s3fs
	IT_S3FS_PREFIX=${K%/} it_s3fs_mount "$S" -o stat_cache_expire=1
	for f in hello tree2/d1/f2 tree2/e/f4 rs/x/file rs/x/y/data link pat; do
		it_check_eq "s3fs shows the mode, owner, mtime and size of '$f'" \
			"$(stat -c '%F %a %u %g %Y %s' "$M/$f")" "$(stat -c '%F %a %u %g %Y %s' "$S/$f")"
	done
	for f in a rs/x tree2/d1; do
		it_check_eq "s3fs shows the mode, owner and mtime of directory '$f'" \
			"$(stat -c '%F %a %u %g %Y' "$M/$f")" "$(stat -c '%F %a %u %g %Y' "$S/$f")"
	done
	it_check "s3fs reads stepfs's data" cmp "$IT_DIR/src/20m" "$S/big"
	# ... and stepfs sees what s3fs writes
	mkdir "$S/from-s3fs"
	cp "$IT_DIR/src/1m" "$S/from-s3fs/f"
	chmod 0604 "$S/from-s3fs/f"
	chown 2222:3333 "$S/from-s3fs/f"
	touch -d '1999-12-31 23:59:59 UTC' "$S/from-s3fs/f"
	ln -s f "$S/from-s3fs/l"
	it_umount "$S"
	fs_remount
	it_check "stepfs reads s3fs's data" cmp "$IT_DIR/src/1m" "$M/from-s3fs/f"
	it_check_eq "stepfs shows s3fs's mode, owner, mtime" "604 2222 3333 946684799" \
		"$(stat -c '%a %u %g %Y' "$M/from-s3fs/f")"
	it_check_eq "stepfs shows s3fs's directory" directory "$(stat -c %F "$M/from-s3fs")"
	it_check_eq "stepfs shows s3fs's symlink" f "$(readlink "$M/from-s3fs/l")"
	it_check_eq "exact_attrs: ls -l shows s3fs's mode, owner, mtime" "-rw----r-- 2222 3333 946684799" \
		"$(ls -ln --time-style=+%s "$M/from-s3fs" | awk '$NF == "f" && $(NF - 1) != "->" {print $1, $3, $4, $6}')"
	it_check "exact_attrs: ls -l shows s3fs's symlink" \
		sh -c "ls -l '$M/from-s3fs' | grep -q '^l.* l -> f\$'"

	# the default: listing attributes in ls -l (size, LastModified, the
	# mount's owner and umask), exact ones for a lookup the listing did not
	# answer and after a change made through the mount
	it_umount "$M"
	it_mount "s3://$IT_BUCKET/${K%/}" "$M" -o attr_ttl=30
	it_check_eq "default: stat of a file not listed shows s3fs's mode, owner, mtime" \
		"604 2222 3333 946684799" "$(stat -c '%a %u %g %Y' "$M/from-s3fs/f")"
	it_umount "$M"
	it_mount "s3://$IT_BUCKET/${K%/}" "$M" -o attr_ttl=30
	lm=$(it_s3_meta "${K}from-s3fs/f" | jq -r .LastModified)
	it_check_eq "default: ls -l shows the listing's size and time with the mount's owner and umask" \
		"-rw-r--r-- $(id -u) $(id -g) 1048576 $(date -d "$lm" +%s)" \
		"$(ls -ln --time-style=+%s "$M/from-s3fs" | awk '$NF == "f" && $(NF - 1) != "->" {print $1, $3, $4, $5, $6}')"
	it_check_eq "default: stat after ls -l answers from the listing" "644 $(id -u)" \
		"$(stat -c '%a %u' "$M/from-s3fs/f")"
	chmod 0640 "$M/from-s3fs/f"
	it_check_eq "default: after a chmod here, stat is exact" "640 2222 3333 946684799" \
		"$(stat -c '%a %u %g %Y' "$M/from-s3fs/f")"
	it_check_eq "default: ... and so is ls -l" "-rw-r----- 2222 3333 946684799" \
		"$(ls -ln --time-style=+%s "$M/from-s3fs" | awk '$NF == "f" && $(NF - 1) != "->" {print $1, $3, $4, $6}')"
	it_check_eq "default: the chmod is stored as s3fs stores it" "$((8#100640))" \
		"$(be_metadata from-s3fs/f | jq -r .mode)"
	it_check "default: s3fs's file reads the same" cmp "$IT_DIR/src/1m" "$M/from-s3fs/f"
	it_umount "$M"
	# the kernel checks permissions from the modes: -o default_permissions
	# (and allow_other) ask for exact ones
	it_mount "s3://$IT_BUCKET/${K%/}" "$M" -o attr_ttl=30,default_permissions
	it_check_eq "default_permissions: ls -l shows the stored mode, owner, mtime" \
		"-rw-r----- 2222 3333 946684799" \
		"$(ls -ln --time-style=+%s "$M/from-s3fs" | awk '$NF == "f" && $(NF - 1) != "->" {print $1, $3, $4, $6}')"
fi

it_umount "$M"
aws_s3 rm --only-show-errors --recursive "s3://$IT_BUCKET/$K" || true
it_done
