# tests/servers/common.sh: shared by up.sh, down.sh, rgw.sh and check.sh (sourced, bash).
# Everything here writes diagnostics to stderr only: stdout of up.sh is the
# environment that tests/run.sh sources.

srv_say() { echo "servers: $*" >&2; }

# srv_port_free PORT: true if nothing listens on 127.0.0.1:PORT (TCP)
srv_port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# srv_pick_ports N: print the first of N consecutive free ports in a random
# spot of 20000-59999, so concurrent instances rarely collide. The ports are
# only checked, not held: a race with another starter is possible and shows up
# as a bind error in the daemon's log (up.sh then fails and says so).
srv_pick_ports() {
	local n=$1 try base i ok
	for try in $(seq 1 200); do
		base=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		ok=1
		for ((i = 0; i < n; i++)); do
			srv_port_free $((base + i)) || { ok=; break; }
		done
		[ -n "$ok" ] && { echo "$base"; return 0; }
	done
	srv_say "cannot find $n free consecutive ports"
	return 1
}

# srv_pid FILE MATCH: print the pid named in FILE if that process lives and
# its command line contains MATCH (the state directory), so that a stale pid
# file never names an unrelated process that reused the pid; else fail.
srv_pid() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 1
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	{ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$2" || return 1
	echo "$pid"
}

# srv_stop_pidfile FILE MATCH [SECONDS]: SIGTERM the process named in FILE
# (srv_pid), wait for it to exit (default 20 s), then SIGKILL.
srv_stop_pidfile() {
	local f=$1 match=$2 t=${3:-20} pid i
	pid=$(srv_pid "$f" "$match")
	rm -f "$f"
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < t * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	srv_say "pid $pid ($(basename "$f")) ignored SIGTERM for ${t}s; killing"
	kill -KILL "$pid" 2>/dev/null
	return 0
}

# srv_rgw_start DIR: start radosgw from DIR/ceph.conf and wait until it
# answers HTTP (up to $2 seconds, default 60).
srv_rgw_start() {
	local dir=$1 t=${2:-60} port i code
	port=$(cat "$dir/rgw.port")
	radosgw -c "$dir/ceph.conf" -n client.rgw.a --keyring "$dir/rgw.keyring" \
		</dev/null >>"$dir/log/radosgw.out" 2>&1 || return 1
	for ((i = 0; i < t * 5; i++)); do
		code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/" 2>/dev/null)
		case $code in 000 | '') ;; *) return 0 ;; esac
		sleep 0.2
	done
	srv_say "radosgw did not answer on 127.0.0.1:$port within ${t}s"
	return 1
}

srv_rgw_stop() {
	srv_stop_pidfile "$1/run/client.rgw.a.pid" "$1" "${2:-20}"
}

# srv_alive DIR NAME: true if the daemon NAME (mon.a, osd.0, client.rgw.a,
# s3rver) of the cluster in DIR runs (srv_pid of its pid file).
srv_alive() {
	srv_pid "$1/run/$2.pid" "$1" >/dev/null
}

# srv_mon_start DIR / srv_osd_start DIR: start the monitor / the OSD again on
# their existing data (they daemonize; their pid files land in DIR/run).
srv_mon_start() {
	ceph-mon -c "$1/ceph.conf" -i a </dev/null >>"$1/log/mon.out" 2>&1
}
srv_osd_start() {
	ceph-osd -c "$1/ceph.conf" -i 0 --keyring "$1/osd.0/keyring" </dev/null >>"$1/log/osd.out" 2>&1
}

# srv_env DIR NAME: print the value of NAME from DIR/env (written by up.sh)
srv_env() {
	sed -n "s/^$2=//p" "$1/env" 2>/dev/null | head -n 1
}

# srv_s3_probe DIR [SECONDS]: print the HTTP status of a signed ListObjectsV2
# (max-keys=1) on the test bucket, "000" if no answer within SECONDS (default
# 10). 200 means radosgw answers and reaches the OSD (a bucket listing reads
# the bucket index from RADOS; an anonymous GET / would not).
srv_s3_probe() {
	local dir=$1 t=${2:-10} ep ak sk b code
	ep=$(srv_env "$dir" STEPFS_TEST_S3_ENDPOINT)
	ak=$(srv_env "$dir" STEPFS_TEST_S3_ACCESS_KEY)
	sk=$(srv_env "$dir" STEPFS_TEST_S3_SECRET_KEY)
	b=$(srv_env "$dir" STEPFS_TEST_S3_BUCKET)
	if [ -z "$ep" ]; then # up.sh did not get that far
		ep=http://127.0.0.1:$(cat "$dir/rgw.port" 2>/dev/null)
		code=$(curl -s -o /dev/null -m "$t" -w '%{http_code}' "$ep/" 2>/dev/null)
	else
		code=$(curl -s -o /dev/null -m "$t" -w '%{http_code}' -u "$ak:$sk" \
			--aws-sigv4 "aws:amz:us-east-1:s3" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
			"$ep/$b?list-type=2&max-keys=1" 2>/dev/null)
	fi
	echo "${code:-000}"
}

# srv_osd_used DIR: print how full the OSD's block device is, in whole
# percent (BlueStore's allocator, through the OSD's admin socket; the mgr
# that `ceph osd df` needs is not run). Fails if the OSD does not answer.
srv_osd_used() {
	local j
	j=$(timeout 10 ceph --admin-daemon "$1/run/osd.0.asok" bluestore bluefs device info 2>/dev/null) ||
		return 1
	jq -er '.dev | select(.total > 0) | ((.total - .free) * 100 / .total | floor)' <<<"$j" 2>/dev/null
}
