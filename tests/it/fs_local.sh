#!/usr/bin/env bash
# tests/it/fs_local.sh: `stepfs mount DIR` on the local-directory backend,
# driven with real tools (tests/it/lib_fs.sh); every result is checked in the
# bucket directory itself: the data file of each key and, for metadata, the
# record the backend keeps beside it (DIR/.stepfs-meta/m/*, fs/localstore.h).
set -e
. "$(dirname "$0")/lib.sh"
it_need_fuse
it_need_cmd jq rsync tar
. "$(dirname "$0")/lib_fs.sh"

B=$IT_DIR/bucket
M=$IT_DIR/mnt
mkdir -p "$B"
FS_HAVE_META=1

# the metadata record of key $1 (JSON), from the backend's own files
be_record() {
	find "$B/.stepfs-meta/m" -type f -print0 2>/dev/null | xargs -0 -r cat |
		jq -c --arg k "$1" 'select(.key == $k)' 2>/dev/null | tail -n 1
}
be_get() {
	local rel=$1
	if [ -L "$B/$rel" ]; then
		printf '%s' "$(readlink "$B/$rel")" >"$2"
	elif [ -f "$B/$rel" ]; then
		cp "$B/$rel" "$2"
	else
		return 1
	fi
}
be_exists() {
	case $1 in
	*/) [ -d "$B/${1%/}" ] && [ -n "$(be_record "$1")" ] ;;
	*) [ -f "$B/$1" ] || [ -L "$B/$1" ] ;;
	esac
}
be_metadata() {
	local r
	r=$(be_record "$1")
	[ -n "$r" ] || return 1
	jq -c '.meta // {}' <<<"$r"
}
be_put() {
	mkdir -p "$(dirname "$B/$1")"
	cp "$2" "$B/$1"
}
be_get_dir() { cp -a "$B/$1/." "$2/"; }
be_put_dir() {
	mkdir -p "$B/$2"
	cp -a "$1/." "$B/$2/"
}
be_keys() {
	[ -d "$B/$1" ] || return 0
	(cd "$B" && find "$1" \( -type f -o -type l \) -print) | LC_ALL=C sort
}

fs_mount() {
	it_mount "$B" "$M" -o "spool=$IT_DIR/spool,attr_ttl=1"
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
it_check_eq "nothing left in the spool after a clean unmount" "" \
	"$(it_umount "$M" && find "$IT_DIR/spool" -type f ! -name '*.db*' ! -name 'lock' 2>/dev/null)"
it_done
