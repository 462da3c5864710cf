#!/usr/bin/env bash
# tests/deps.sh: install everything building and testing stepfs needs on a
# fresh Debian 12 (run as root, or with sudo available). Idempotent and quick
# when everything is present. STEPFS_DEPS_MIN=1 installs only what building and the demo (workflows/demo.sh) need.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

build_pkgs="build-essential pkg-config libfuse3-dev fuse3 libcurl4-openssl-dev libjansson-dev
	libinotifytools0-dev inotify-tools libsqlite3-dev sqlite3 libssl-dev libxml2-dev libpcre2-dev
	ca-certificates python3 jq graphviz"
test_pkgs="clang libclang-rt-14-dev jq curl python3 procps psmisc util-linux graphviz
	systemd radosgw ceph-mon ceph-osd ceph-common awscli s3cmd rclone s3fs nodejs npm
	attr acl rsync openssl socat"

pkgs=$build_pkgs
[ "${STEPFS_DEPS_MIN:-0}" = 1 ] || pkgs="$pkgs $test_pkgs"
# A Node.js from elsewhere (e.g. nodesource's nodejs, which bundles npm and
# conflicts with Debian's npm package) is kept: only install what is absent.
if command -v node >/dev/null && command -v npm >/dev/null; then
	pkgs=$(printf '%s\n' $pkgs | grep -vxE 'nodejs|npm' | tr '\n' ' ')
fi
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing$missing" >&2
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
fi
[ "${STEPFS_DEPS_MIN:-0}" = 1 ] && exit 0

# npm packages used by tests and benchmarks, kept inside the tree (build/npm)
if command -v npm >/dev/null; then
	mkdir -p build/npm
	if [ ! -d build/npm/node_modules/s3rver ] || [ ! -d build/npm/node_modules/aws-local-stepfunctions ]; then
		(cd build/npm && [ -f package.json ] || echo '{"name":"stepfs-test-deps","private":true}' > package.json
		 npm install --no-audit --no-fund --loglevel=error s3rver@3.7.1 aws-local-stepfunctions@3.0.0 >&2) ||
			echo "deps: npm install failed (s3rver quick checks and the engine bench need it)" >&2
	fi
fi
exit 0
