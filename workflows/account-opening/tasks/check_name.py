#!/usr/bin/env python3
"""CheckName: a full name of two or more words, letters only (plus - ' and spaces)."""
import json
import re
import sys

app = json.load(sys.stdin)
name = str(app.get("name", "")).strip()
if len(name.split()) < 2 or not re.fullmatch(r"[^\W\d_]+(?:[ '\-][^\W\d_]+)+", name):
    json.dump({"errorType": "InvalidName", "errorMessage": "name %r is not a full name" % name}, sys.stdout)
    sys.exit(1)
json.dump({"check": "name", "ok": True, "name": name}, sys.stdout)
