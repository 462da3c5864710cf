#!/bin/sh
# Input {"key": "incoming/a%3Db.csv" (URL-encoded, as AWS sends it),
#        "path": "/mnt/photos/incoming/a=b.csv" (the object in the mount)}.
# The file name travels in JSON, never through a shell command line.
set -e
in=$(cat)
path=$(printf '%s' "$in" | jq -r .path)
rows=$(wc -l <"$path")
printf '%s' "$in" | jq -c --argjson rows "$rows" '{key: .key, rows: $rows}'
