#!/usr/bin/env bash
# tests/it/events_local.sh: from close() to execution on a real FUSE mount of
# the local-directory backend (see events_lib.sh for what is checked).
set -e
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/events_lib.sh"
it_need_fuse
it_need_cmd jq python3
mkdir -p "$IT_DIR/bucket"
SRC=$IT_DIR/bucket
BUCKET=photos
ev_run
it_done
