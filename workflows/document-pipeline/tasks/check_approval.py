#!/usr/bin/env python3
"""Look for approvals/<name>.ok or approvals/<name>.rejected in the bucket; count the polls."""
import os
from doclib import read, reply

req = read()
base = os.path.join(req["root"], "approvals", req["name"])
status = "pending"
if os.path.exists(base + ".ok"):
    status = "approved"
elif os.path.exists(base + ".rejected"):
    status = "rejected"
reply({"status": status, "polls": int(req.get("polls", 0)) + 1})
