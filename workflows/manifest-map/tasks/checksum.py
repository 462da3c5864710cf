#!/usr/bin/env python3
"""One Map item: SHA-256 and size of a file named relative to the bucket root."""
import hashlib
import json
import os
import sys

item = json.load(sys.stdin)
name = item["name"]
path = os.path.normpath(os.path.join(item["root"], name))
if not path.startswith(os.path.normpath(item["root"]) + os.sep):
    json.dump({"errorType": "BadItem", "errorMessage": "%r leaves the bucket" % name}, sys.stdout)
    sys.exit(1)
try:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
except OSError as e:
    json.dump({"errorType": "MissingItem", "errorMessage": "%s: %s" % (name, e.strerror)}, sys.stdout)
    sys.exit(1)
json.dump({"index": item["index"], "name": name, "size": os.path.getsize(path), "sha256": h.hexdigest()},
          sys.stdout)
