#!/usr/bin/env python3
"""Lines, words and the first line of a text document."""
from doclib import read, reply

doc = read()
with open(doc["path"], encoding="utf-8", errors="replace") as f:
    text = f.read()
lines = text.splitlines()
reply({"lines": len(lines), "words": len(text.split()), "title": lines[0][:120] if lines else ""})
