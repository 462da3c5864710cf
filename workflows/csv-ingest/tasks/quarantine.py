#!/usr/bin/env python3
"""Move a bad file to quarantine/ with a note saying why."""
import json
import os
from common import read_input, reply, sibling

req = read_input()
dest = sibling(req["path"], req["key"], "quarantine")
os.replace(req["path"], dest)
with open(dest + ".why.tmp", "w", encoding="utf-8") as f:
    json.dump(req.get("error"), f)
os.replace(dest + ".why.tmp", dest + ".why")
reply({"moved_to": dest})
