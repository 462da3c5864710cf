#!/usr/bin/env python3
"""Write the decision next to the application: decisions/<name>.json in the mount."""
import json
import os
import sys
from urllib.parse import unquote_plus

req = json.load(sys.stdin)
raw = unquote_plus(req["key"])
root = req["path"][: -len(raw) - 1] if req["path"].endswith("/" + raw) else os.path.dirname(req["path"])
out_dir = os.path.join(root, "decisions")
os.makedirs(out_dir, exist_ok=True)
out = os.path.join(out_dir, os.path.basename(req["path"]))
decision = {"application": raw, "decision": req["decision"]}
if req["decision"] == "APPROVED":
    decision["name"] = req["application"].get("name")
    decision["checks"] = req["checks"]
else:
    decision["reason"] = req.get("error")
with open(out + ".tmp", "w", encoding="utf-8") as f:
    json.dump(decision, f, indent=1)
os.replace(out + ".tmp", out)
json.dump(decision, sys.stdout)
