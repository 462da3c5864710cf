# tests/it/lib.sh: helpers for the integration scripts tests/it/*.sh.
#
#   #!/usr/bin/env bash
#   set -e
#   . "$(dirname "$0")/lib.sh"
#   it_need_s3                      # exported test server, or exit 77
#   it_check "put works" aws_s3api put-object --bucket "$IT_BUCKET" --key "${IT_PREFIX}a" --body f
#   it_done                         # prints "N passed, N failed", exit status
#
# Sourcing makes a private work dir $IT_DIR (removed on exit) and installs an
# EXIT trap that unmounts everything mounted with it_mount/it_s3fs_mount
# (fusermount3 -u, lazily if busy), stops their daemons and removes $IT_DIR.
# $IT_PREFIX is a key prefix unique to this run of this script: put every
# object under it, so scripts sharing a bucket never see each other's keys.
#
# Servers: tests/run.sh starts tests/servers/up.sh once and exports
# STEPFS_TEST_S3_*. Without them it_need_s3 exits 77 (a skip; under CI=true
# run.sh counts it as a failure), unless STEPFS_IT_START_SERVERS=1, which makes
# the script start (and stop) its own servers. By hand:
#   eval "$(tests/servers/up.sh)"; bash tests/it/servers.sh; tests/servers/down.sh
#
# Tools: awscli is /usr/bin/aws (Debian's awscli 2) unless STEPFS_AWS names
# another; no ~/.aws file is read or written (AWS_CONFIG_FILE and
# AWS_SHARED_CREDENTIALS_FILE point into $IT_DIR).

IT_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IT_NAME=$(basename "$0" .sh)
IT_O=${O:-build/default}
case $IT_O in /*) ;; *) IT_O=$IT_TOP/$IT_O ;; esac
STEPFS_BIN=${STEPFS_BIN:-$IT_O/stepfs}
IT_HELPERS=$IT_O/tests
IT_PASS=0
IT_FAIL=0
IT_MOUNTS=()    # mount points to unmount on exit
IT_DEFERRED=()  # commands to run on exit (it_defer)
IT_MOUNT_PIDS=() # daemon pid per mount point (same index), or ""
IT_OWN_SERVERS=
IT_MOUNT_SEQ=-1  # numbers the mount logs: mount-0.log is the first
IT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/stepfs-it-$IT_NAME-XXXX")
IT_PREFIX="it-$IT_NAME-$(date +%s)-$$/"
if [ -n "${STEPFS_AWS:-}" ]; then
	IT_AWS=$STEPFS_AWS
elif [ -x /usr/bin/aws ]; then
	IT_AWS=/usr/bin/aws
else
	IT_AWS=aws
fi

it_log() { echo "# $*"; }

# it_cleanup: the EXIT trap (also safe to call twice)
it_cleanup() {
	local rc=$? i
	set +e
	for ((i = ${#IT_DEFERRED[@]} - 1; i >= 0; i--)); do
		eval "${IT_DEFERRED[i]}" >/dev/null 2>&1
	done
	for ((i = ${#IT_MOUNTS[@]} - 1; i >= 0; i--)); do
		[ -n "${IT_MOUNTS[i]}" ] && it_umount "${IT_MOUNTS[i]}" >/dev/null 2>&1
	done
	if [ -n "$IT_OWN_SERVERS" ]; then
		"$IT_TOP/tests/servers/down.sh" "$IT_OWN_SERVERS" >/dev/null 2>&1
	fi
	if [ "${STEPFS_IT_KEEP:-0}" = 1 ]; then
		echo "# kept $IT_DIR" >&2
	else
		rm -rf "$IT_DIR"
	fi
	return $rc
}
trap it_cleanup EXIT

# it_defer 'COMMAND': run COMMAND at exit (the last deferred first), before the
# mounts are undone and the directory removed; its failures are ignored (a
# process already gone), so a script never replaces the EXIT trap itself.
it_defer() { IT_DEFERRED+=("$1"); }

# it_need_s3: make sure a real S3 test server is there, or exit 77
it_need_s3() {
	if [ -z "${STEPFS_TEST_S3_ENDPOINT:-}" ]; then
		if [ "${STEPFS_IT_START_SERVERS:-0}" = 1 ]; then
			local envf=$IT_DIR/servers.env
			"$IT_TOP/tests/servers/up.sh" >"$envf" || { echo "# cannot start test servers"; exit 77; }
			# shellcheck disable=SC1090
			. "$envf"
			IT_OWN_SERVERS=$STEPFS_SERVERS_DIR
		else
			echo "# no S3 test server (STEPFS_TEST_S3_ENDPOINT unset): skipped"
			echo "# start one: eval \"\$(tests/servers/up.sh)\", or set STEPFS_IT_START_SERVERS=1"
			exit 77
		fi
	fi
	local v
	for v in STEPFS_TEST_S3_ACCESS_KEY STEPFS_TEST_S3_SECRET_KEY STEPFS_TEST_S3_BUCKET; do
		if [ -z "${!v:-}" ]; then
			echo "# STEPFS_TEST_S3_ENDPOINT is set but $v is not"
			exit 1
		fi
	done
	IT_ENDPOINT=$STEPFS_TEST_S3_ENDPOINT
	IT_BUCKET=$STEPFS_TEST_S3_BUCKET
	IT_REGION=${STEPFS_TEST_S3_REGION:-us-east-1}
	IT_AK=$STEPFS_TEST_S3_ACCESS_KEY
	IT_SK=$STEPFS_TEST_S3_SECRET_KEY
	if [ "$(curl -s -o /dev/null -m 10 -w '%{http_code}' "$IT_ENDPOINT/")" = 000 ]; then
		echo "# S3 test server $IT_ENDPOINT does not answer"
		exit 1
	fi
	mkdir -p "$IT_DIR/.aws"
	: >"$IT_DIR/.aws/config"
	: >"$IT_DIR/.aws/credentials"
}

# it_need_fuse: /dev/fuse and fusermount3, or exit 77
it_need_fuse() {
	if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
		echo "# no /dev/fuse or fusermount3: skipped"
		exit 77
	fi
}

# it_need_cmd CMD...: each command exists, or exit 77 naming it
it_need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "# '$c' not installed (tests/deps.sh): skipped"; exit 77; }
	done
}

# it_need_helper NAME: prints the path of build/<flavour>/tests/NAME, or exits 1
it_need_helper() {
	if [ ! -x "$IT_HELPERS/$1" ]; then
		echo "# helper '$IT_HELPERS/$1' missing: run make unit-bins" >&2
		exit 1
	fi
	echo "$IT_HELPERS/$1"
}

# aws_s3api ARGS...: `aws s3api ARGS` against the test server with the test
# credentials (environment only); aws_s3 ARGS...: the same for `aws s3 ARGS`;
# it_aws_as AK SK ARGS...: `aws ARGS` with other credentials.
it_aws_as() {
	local ak=$1 sk=$2
	shift 2
	env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL \
		AWS_ACCESS_KEY_ID="$ak" AWS_SECRET_ACCESS_KEY="$sk" \
		AWS_DEFAULT_REGION="$IT_REGION" AWS_REGION="$IT_REGION" \
		AWS_CONFIG_FILE="$IT_DIR/.aws/config" AWS_SHARED_CREDENTIALS_FILE="$IT_DIR/.aws/credentials" \
		AWS_PAGER= AWS_CLI_AUTO_PROMPT=off \
		"$IT_AWS" --endpoint-url "$IT_ENDPOINT" "$@"
}
it_aws() { it_aws_as "$IT_AK" "$IT_SK" "$@"; }
aws_s3api() { it_aws s3api "$@"; }
aws_s3() { it_aws s3 "$@"; }

# it_s3_get KEY FILE: download s3://$IT_BUCKET/KEY to FILE (exit status of aws)
it_s3_get() {
	aws_s3api get-object --bucket "$IT_BUCKET" --key "$1" "$2" >/dev/null
}

# it_s3_put KEY FILE [aws s3api put-object options...]
it_s3_put() {
	local k=$1 f=$2
	shift 2
	aws_s3api put-object --bucket "$IT_BUCKET" --key "$k" --body "$f" "$@" >/dev/null
}

# it_s3_meta KEY [FIELD]: with FIELD, print x-amz-meta-FIELD of the object
# (empty if absent); without, print the HeadObject JSON. Fails if no object.
it_s3_meta() {
	local j
	j=$(aws_s3api head-object --bucket "$IT_BUCKET" --key "$1") || return 1
	if [ $# -ge 2 ]; then
		jq -r --arg f "$2" '.Metadata[$f] // ""' <<<"$j"
	else
		echo "$j"
	fi
}

# it_s3_exists KEY: true if HeadObject finds KEY
it_s3_exists() {
	aws_s3api head-object --bucket "$IT_BUCKET" --key "$1" >/dev/null 2>&1
}

# it_s3_keys PREFIX: print the keys under PREFIX, one a line, in byte order
it_s3_keys() {
	aws_s3api list-objects-v2 --bucket "$IT_BUCKET" --prefix "$1" --output json |
		jq -r '.Contents[]?.Key' | LC_ALL=C sort
}

# it_s3cmd_config FILE: write an s3cmd config for the test server;
# it_s3cmd ARGS...: run s3cmd with it (written to $IT_DIR/s3cmd.cfg on first use)
it_s3cmd_config() {
	local hostport=${IT_ENDPOINT#*://}
	cat >"$1" <<EOF
[default]
access_key = $IT_AK
secret_key = $IT_SK
host_base = $hostport
host_bucket = $hostport
use_https = $([ "${IT_ENDPOINT%%://*}" = https ] && echo True || echo False)
signature_v2 = False
bucket_location = $IT_REGION
check_ssl_certificate = True
guess_mime_type = False
EOF
	chmod 600 "$1"
}
it_s3cmd() {
	[ -f "$IT_DIR/s3cmd.cfg" ] || it_s3cmd_config "$IT_DIR/s3cmd.cfg"
	s3cmd -c "$IT_DIR/s3cmd.cfg" "$@"
}

# it_rclone_config FILE [REMOTE]: write an rclone config with remote REMOTE
# (default "it") for the test server; it_rclone ARGS...: run rclone with it
# (remote "it:", written to $IT_DIR/rclone.conf on first use).
it_rclone_config() {
	cat >"$1" <<EOF
[${2:-it}]
type = s3
provider = Ceph
access_key_id = $IT_AK
secret_access_key = $IT_SK
endpoint = $IT_ENDPOINT
region = $IT_REGION
force_path_style = true
EOF
	chmod 600 "$1"
}
it_rclone() {
	[ -f "$IT_DIR/rclone.conf" ] || it_rclone_config "$IT_DIR/rclone.conf"
	# rclone refuses a set AWS_CA_BUNDLE (../shared/reference/s3-servers.md)
	env -u AWS_CA_BUNDLE rclone --config "$IT_DIR/rclone.conf" "$@"
}

# it_wait_mounted MNT PID SECONDS: wait until MNT is a mount point; fail early
# if PID (when not empty) exits first
it_wait_mounted() {
	local mnt=$1 pid=$2 t=$3 i
	for ((i = 0; i < t * 10; i++)); do
		mountpoint -q "$mnt" && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# it_mount_pid MNT: print the daemon pid of the registered mount MNT
it_mount_pid() {
	local i
	for i in "${!IT_MOUNTS[@]}"; do
		[ "${IT_MOUNTS[i]}" = "$1" ] && echo "${IT_MOUNT_PIDS[i]}"
	done
	return 0
}

# it_register_mount MNT PID: unmount MNT (and wait for PID) on exit
it_register_mount() {
	IT_MOUNTS+=("$1")
	IT_MOUNT_PIDS+=("$2")
}

# it_mount SOURCE MNT [-o OPTS]...: mount with `stepfs mount SOURCE MNT -f ...`
# in the background (credentials through the AWS_* environment, endpoint and
# region as -o options when SOURCE is s3://...), wait until mounted (30 s),
# and register it for unmounting. The daemon's output goes to
# $IT_DIR/mount-N.log (N counts the mounts of this script from 0; the latest
# is $IT_MOUNT_LOG). Returns non-zero (after printing the log) on failure.
it_mount() {
	local src=$1 mnt=$2 n log pid
	IT_MOUNT_SEQ=$((IT_MOUNT_SEQ + 1))
	n=$IT_MOUNT_SEQ
	shift 2
	mkdir -p "$mnt"
	log=$IT_DIR/mount-$n.log
	IT_MOUNT_LOG=$log
	local extra=()
	case $src in
	s3://*) extra=(-o "endpoint=$IT_ENDPOINT,region=$IT_REGION") ;;
	esac
	AWS_ACCESS_KEY_ID="$IT_AK" AWS_SECRET_ACCESS_KEY="$IT_SK" AWS_REGION="$IT_REGION" \
		AWS_CONFIG_FILE="$IT_DIR/.aws/config" AWS_SHARED_CREDENTIALS_FILE="$IT_DIR/.aws/credentials" \
		AWS_ENDPOINT_URL_S3="$IT_ENDPOINT" \
		"$STEPFS_BIN" mount "$src" "$mnt" -f "${extra[@]}" "$@" </dev/null >"$log" 2>&1 &
	pid=$!
	it_register_mount "$mnt" "$pid"
	if ! it_wait_mounted "$mnt" "$pid" 30; then
		echo "# stepfs mount '$src' '$mnt' failed; its log:"
		sed 's/^/#   /' "$log"
		return 1
	fi
}

# it_s3fs_mount MNT [s3fs options...]: mount the test bucket with s3fs
# (../shared/reference/s3-servers.md), registered for unmounting; with
# IT_S3FS_PREFIX=p, only the prefix p/ of the bucket (s3fs BUCKET:/p)
it_s3fs_mount() {
	local mnt=$1 n log pid
	IT_MOUNT_SEQ=$((IT_MOUNT_SEQ + 1))
	n=$IT_MOUNT_SEQ
	shift
	mkdir -p "$mnt"
	log=$IT_DIR/s3fs-$n.log
	echo "$IT_AK:$IT_SK" >"$IT_DIR/s3fs.passwd"
	chmod 600 "$IT_DIR/s3fs.passwd"
	s3fs "$IT_BUCKET${IT_S3FS_PREFIX:+:/$IT_S3FS_PREFIX}" "$mnt" -f -o url="$IT_ENDPOINT" -o use_path_request_style \
		-o endpoint="$IT_REGION" -o passwd_file="$IT_DIR/s3fs.passwd" "$@" \
		</dev/null >"$log" 2>&1 &
	pid=$!
	it_register_mount "$mnt" "$pid"
	if ! it_wait_mounted "$mnt" "$pid" 30; then
		echo "# s3fs mount on '$mnt' failed; its log:"
		sed 's/^/#   /' "$log"
		return 1
	fi
}

# it_is_mounted MNT: true if something is mounted on MNT, even a FUSE mount
# whose daemon died (where mountpoint(1) fails with ENOTCONN)
it_is_mounted() {
	local m=${1%/}
	case $m in /*) ;; *) m=$PWD/$m ;; esac
	awk -v m="$m" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# it_umount MNT: unmount (fusermount3 -u; lazily after 10 s of EBUSY) and
# wait up to 60 s for the daemon to exit. Returns 1 if the daemon had to be
# killed or exited non-zero.
it_umount() {
	local mnt=$1 i pid= rc=0
	for i in "${!IT_MOUNTS[@]}"; do
		if [ "${IT_MOUNTS[i]}" = "$mnt" ]; then
			pid=${IT_MOUNT_PIDS[i]}
			IT_MOUNTS[i]=
			IT_MOUNT_PIDS[i]=
		fi
	done
	for ((i = 0; i < 100; i++)); do
		it_is_mounted "$mnt" || break
		fusermount3 -u "$mnt" 2>/dev/null && break
		sleep 0.1
	done
	if it_is_mounted "$mnt"; then
		echo "# '$mnt' busy: lazy unmount" >&2
		fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
		rc=1
	fi
	if [ -n "$pid" ]; then
		for ((i = 0; i < 600; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "# daemon $pid of '$mnt' still running 60 s after unmount: killing" >&2
			kill -KILL "$pid" 2>/dev/null
			rc=1
		fi
		wait "$pid" 2>/dev/null || rc=1
	fi
	return $rc
}

# it_check DESCRIPTION CMD ARGS...: run CMD; count and print ok/FAIL.
# On failure CMD's output is shown. Never exits (safe under set -e).
it_check() {
	local d=$1 out rc
	shift
	out=$("$@" 2>&1) && rc=0 || rc=$?
	if [ "$rc" = 0 ]; then
		IT_PASS=$((IT_PASS + 1))
		echo "ok $((IT_PASS + IT_FAIL)) - $d"
	else
		IT_FAIL=$((IT_FAIL + 1))
		echo "FAIL $((IT_PASS + IT_FAIL)) - $d (exit $rc)"
		[ -n "$out" ] && printf '%s\n' "$out" | tail -n 30 | sed 's/^/#   /'
	fi
	return 0
}

# it_check_eq DESCRIPTION EXPECTED ACTUAL: it_check for a string comparison
it_check_eq() {
	if [ "$2" = "$3" ]; then
		it_check "$1" true
	else
		it_check "$1" it_show_diff "$2" "$3"
	fi
}
it_show_diff() {
	printf 'expected: %q\n  actual: %q\n' "$1" "$2"
	return 1
}

# it_not CMD ARGS...: true if CMD fails (for it_check)
it_not() {
	! "$@"
}

# it_to FILE CMD ARGS...: run CMD with stdout into FILE (for it_check)
it_to() {
	local f=$1
	shift
	"$@" >"$f"
}

# it_same_file DESCRIPTION A B: it_check that files A and B have equal bytes
it_same_file() {
	it_check "$1" cmp "$2" "$3"
}

# it_done: print "N passed, N failed" and exit 0 if nothing failed, else 1
it_done() {
	echo "$IT_PASS passed, $IT_FAIL failed"
	[ "$IT_FAIL" = 0 ] && exit 0
	exit 1
}
