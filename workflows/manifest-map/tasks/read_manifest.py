#!/usr/bin/env python3
"""Read a manifest: one relative file name per line (blank lines and # comments skipped)."""
import json
import os
import sys
from urllib.parse import unquote_plus

req = json.load(sys.stdin)
raw = unquote_plus(req["key"])
root = req["path"][: -len(raw) - 1] if req["path"].endswith("/" + raw) else os.path.dirname(req["path"])
with open(req["path"], encoding="utf-8") as f:
    items = [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]
json.dump({"root": root, "items": items, "count": len(items)}, sys.stdout)
