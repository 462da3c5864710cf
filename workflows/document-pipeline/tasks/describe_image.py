#!/usr/bin/env python3
"""Width and height of a PNG or JPEG, read from its header."""
import struct
from doclib import read, reply

doc = read()
with open(doc["path"], "rb") as f:
    data = f.read(1 << 16)
w = h = None
if doc["type"] == "png" and len(data) >= 24:
    w, h = struct.unpack(">II", data[16:24])
elif doc["type"] == "jpeg":
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            break
        marker, seglen = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            break
        i += 2 + seglen
reply({"width": w, "height": h})
