#!/bin/sh
# Append the whole input (one JSON line) to $OUT_DIR/audit.jsonl
mkdir -p "$OUT_DIR"
jq -c . >>"$OUT_DIR/audit.jsonl"
echo '{}'
