#!/usr/bin/env python3
"""Read an application (JSON with name, address{street, city, postcode, country}, email)."""
import json
import sys

req = json.load(sys.stdin)
try:
    with open(req["path"], encoding="utf-8") as f:
        app = json.load(f)
    if not isinstance(app, dict):
        raise ValueError("not a JSON object")
except (OSError, ValueError) as e:
    json.dump({"errorType": "BadApplication", "errorMessage": "%s: %s" % (req["key"], e)}, sys.stdout)
    sys.exit(1)
json.dump(app, sys.stdout)
