#!/usr/bin/env bash
# tests/it/events_s3.sh: from close() to execution on a real FUSE mount of a
# Ceph RGW bucket (see events_lib.sh for what is checked).
set -e
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/events_lib.sh"
it_need_fuse
it_need_cmd jq python3
it_need_s3
SRC=s3://$IT_BUCKET/${IT_PREFIX%/}
BUCKET=$IT_BUCKET
ev_run
it_done
