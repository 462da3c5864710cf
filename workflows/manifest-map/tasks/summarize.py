#!/usr/bin/env python3
"""Write results/<manifest>.sha256 (sha256sum format) and return a summary."""
import json
import os
import sys
from urllib.parse import unquote_plus

req = json.load(sys.stdin)
raw = unquote_plus(req["key"])
root = req["path"][: -len(raw) - 1] if req["path"].endswith("/" + raw) else os.path.dirname(req["path"])
out_dir = os.path.join(root, "results")
os.makedirs(out_dir, exist_ok=True)
out = os.path.join(out_dir, os.path.basename(req["path"]) + ".sha256")
ok = [r for r in req["results"] if isinstance(r, dict) and "sha256" in r]
with open(out + ".tmp", "w", encoding="utf-8") as f:
    for r in ok:
        f.write("%s  %s\n" % (r["sha256"], r["name"]))
os.replace(out + ".tmp", out)
json.dump({"manifest": raw, "items": req["count"], "checksummed": len(ok),
           "bytes": sum(r["size"] for r in ok), "result_file": out}, sys.stdout)
