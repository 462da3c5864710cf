#!/usr/bin/env bash
# tests/ci.sh: the one test command. Installs what a fresh Debian 12 lacks,
# builds stepfs and the tests (plain and ASan+UBSan), then runs the unit tests
# of both builds and the integration tests (real FUSE mounts, Ceph RGW) and
# ends with the summary line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
tests/deps.sh || { echo "deps: install failed"; echo "0 passed, 1 failed"; exit 1; }
jobs=$(nproc 2>/dev/null || echo 2)
if ! make -s -j"$jobs" all unit-bins >build/make.log 2>&1; then
	tail -n 60 build/make.log; echo "0 passed, 1 failed"; exit 1
fi
if ! make -s -j"$jobs" SAN=address,undefined unit-bins >build/make-asan.log 2>&1; then
	tail -n 60 build/make-asan.log; echo "0 passed, 1 failed"; exit 1
fi
# A CI run uses S3 test servers of its own: a STEPFS_TEST_S3_* left in the
# calling shell by `eval "$(tests/servers/up.sh)"` once made a run use a
# server that was stopped under it (16 S3 scripts failed, "does not answer").
for v in $(compgen -e | grep -E '^STEPFS_TEST_S3|^STEPFS_SERVERS_DIR$'); do
	echo "ci: ignoring $v=${!v} from the environment (CI starts its own test servers)"
	unset "$v"
done
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
exec tests/run.sh build/default/tests/test_* build/address-undefined/tests/test_*
