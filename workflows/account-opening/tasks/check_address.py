#!/usr/bin/env python3
"""CheckAddress: street, city, postcode and a two-letter country code are present."""
import json
import sys

app = json.load(sys.stdin)
addr = app.get("address") or {}
missing = [k for k in ("street", "city", "postcode", "country") if not str(addr.get(k, "")).strip()]
if missing or len(str(addr.get("country", ""))) != 2:
    json.dump({"errorType": "InvalidAddress",
               "errorMessage": "address incomplete: missing %s" % (", ".join(missing) or "2-letter country")},
              sys.stdout)
    sys.exit(1)
json.dump({"check": "address", "ok": True, "country": addr["country"].upper()}, sys.stdout)
