#!/usr/bin/env python3
# tests/bench/watch_stats.py CLOSES STAMPS ROOT LABEL
#
# Compares the files written (CLOSES: "<ns> <rel>" per file, from
# watch_writer.py) with the task invocations (STAMPS: "<ns> <key or path>",
# from tests/helper_stamp) exactly, as sets: missed = written and never
# handed to a task, duplicates = handed over more than once. Latency is
# close() -> task start per file (first invocation); files/s is the number
# of files handled from the first close() to the last task start.
# Prints one line; the last field is machine-readable "key=value" pairs.
import sys

closes = {}
for line in open(sys.argv[1]):
    t, k = line.split(" ", 1)
    closes[k.rstrip("\n")] = int(t)
root = sys.argv[3].rstrip("/") + "/"
seen = {}
dups = 0
extra = 0
try:
    stamps = open(sys.argv[2])
except FileNotFoundError:
    stamps = []
for line in stamps:
    t, k = line.split(" ", 1)
    k = k.rstrip("\n")
    if k.startswith(root):
        k = k[len(root):]
    if k not in closes:
        extra += 1
    elif k in seen:
        dups += 1
    else:
        seen[k] = int(t)
lat = sorted((seen[k] - closes[k]) / 1e6 for k in seen)
missed = len(closes) - len(seen)


def p(q):
    return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")


if seen:
    span = (max(seen.values()) - min(closes.values())) / 1e9
    rate = len(seen) / span if span > 0 else float("nan")
else:
    rate = 0.0
print("%-9s handled %6d/%-6d missed %5d  dups %3d  p50 %8.1f ms  p99 %8.1f ms  max %8.1f ms"
      "  %6.0f files/s   |rate=%.1f p50=%.2f p99=%.2f missed=%d dups=%d"
      % (sys.argv[4], len(seen), len(closes), missed, dups, p(0.5), p(0.99),
         lat[-1] if lat else float("nan"), rate, rate, p(0.5), p(0.99), missed, dups))
