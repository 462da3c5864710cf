# tests/it/lib_fp.sh: the fault-injecting proxy (tests/helper_faultproxy.c) in
# front of the test server. Source after lib.sh and it_need_s3. Sets FP (the
# helper) and UP (the server's host:port); a proxy still running at exit is
# stopped.
FP=$(it_need_helper helper_faultproxy)
UP=${IT_ENDPOINT#http://}
UP=${UP%%/*}
FP_PID= FP_PORT= FP_LOG= FP_N=0
it_defer '[ -n "$FP_PID" ] && fp_stop'

# fp_start ARGS...: start a proxy with these faults; sets FP_PID, FP_PORT and
# FP_LOG (its stderr, where it prints its counters when it exits). Each start
# has its own files: an old port file could be read before the shell
# truncated it for the new proxy.
fp_start() {
	local i
	FP_N=$((FP_N + 1))
	FP_LOG=$IT_DIR/fp-$FP_N.log
	"$FP" "$@" "$UP" >"$IT_DIR/fp-$FP_N.port" 2>"$FP_LOG" &
	FP_PID=$!
	FP_PORT=
	for ((i = 0; i < 50; i++)); do
		FP_PORT=$(head -n 1 "$IT_DIR/fp-$FP_N.port" 2>/dev/null) || true
		[ -n "$FP_PORT" ] && return 0
		sleep 0.1
	done
	echo "# faultproxy did not start"; cat "$FP_LOG"
	return 1
}

# fp_stop: SIGTERM, wait for the counters to be written to $FP_LOG
fp_stop() {
	kill -TERM "$FP_PID" 2>/dev/null || true
	wait "$FP_PID" 2>/dev/null || true
	FP_PID=
}
