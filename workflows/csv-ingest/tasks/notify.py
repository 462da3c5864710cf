#!/usr/bin/env python3
"""Notify the sender: write a message file under outbox/ in the mount."""
import os
from common import read_input, reply, sibling

req = read_input()
out = sibling(req["path"], req["key"], "outbox", ".msg")
with open(out + ".tmp", "w", encoding="utf-8") as f:
    f.write(req["message"] + "\n")
os.replace(out + ".tmp", out)
reply({"message_file": out})
