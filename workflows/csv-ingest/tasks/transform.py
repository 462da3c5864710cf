#!/usr/bin/env python3
"""Transform a validated CSV into a JSON array of objects under processed/.

Flaky on purpose when FLAKY_FIRST_TRIES is set: it fails with the retriable
error "Transient" while $STEPFS_RETRY_COUNT is below that number, so the
state's Retry can be seen working.
"""
import csv
import json
import os
from common import read_input, reply, fail, sibling

req = read_input()
flaky = int(os.environ.get("FLAKY_FIRST_TRIES", "0"))
if int(os.environ.get("STEPFS_RETRY_COUNT", "0")) < flaky:
    fail("Transient", "simulated transient failure (retry %s)" % os.environ.get("STEPFS_RETRY_COUNT"))
with open(req["path"], newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f, fieldnames=req["header"])
    next(reader)
    records = [dict(r) for r in reader]
out = sibling(req["path"], req["key"], "processed", ".json")
tmp = out + ".tmp"
with open(tmp, "w", encoding="utf-8") as f:
    json.dump(records, f, indent=1)
os.replace(tmp, out)
reply({"output": out, "records": len(records)})
