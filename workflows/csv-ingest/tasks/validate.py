#!/usr/bin/env python3
"""Validate a CSV file: a header, at least one row, the same column count on every row."""
import csv
from common import read_input, reply, fail

req = read_input()
try:
    with open(req["path"], newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
except (OSError, UnicodeDecodeError) as e:
    fail("InvalidCsv", "cannot read %s: %s" % (req.get("key"), e))
if not rows or not any(h.strip() for h in rows[0]):
    fail("InvalidCsv", "%s: no header line" % req.get("key"))
header = [h.strip() for h in rows[0]]
for n, row in enumerate(rows[1:], start=2):
    if len(row) != len(header):
        fail("InvalidCsv", "%s: line %d has %d fields, the header has %d"
             % (req.get("key"), n, len(row), len(header)))
if len(rows) < 2:
    fail("InvalidCsv", "%s: header only, no data rows" % req.get("key"))
reply({"header": header, "rows": len(rows) - 1})
