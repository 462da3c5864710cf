#!/usr/bin/env python3
"""Detect a document's type from its first bytes (not its name)."""
import os
from doclib import read, reply, root_of

req = read()
with open(req["path"], "rb") as f:
    head = f.read(4096)
if head.startswith(b"\x89PNG\r\n\x1a\n"):
    kind = "png"
elif head.startswith(b"\xff\xd8\xff"):
    kind = "jpeg"
elif head.startswith(b"%PDF-"):
    kind = "pdf"
else:
    try:
        head.decode("utf-8")
        kind = "text"
    except UnicodeDecodeError:
        kind = "binary"
reply({"path": req["path"], "key": req["key"], "root": root_of(req["path"], req["key"]),
       "name": os.path.basename(req["path"]), "type": kind, "size": os.path.getsize(req["path"]),
       "approvalPollSeconds": int(os.environ.get("APPROVAL_POLL_SECONDS", "5")),
       "maxApprovalPolls": int(os.environ.get("APPROVAL_MAX_POLLS", "720"))})
