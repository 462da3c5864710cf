#!/usr/bin/env python3
# tests/bench/watch_writer.py DIR N OUT THREADS PER_DIR PACE_S
#
# The writer of tests/bench/watch.sh: THREADS threads write N files in all
# (2 bytes each) under DIR/w<t>/d<k>/f<i>, starting a new subdirectory every
# PER_DIR files of a thread (mkdir -p, then the first write at once: the
# pattern that loses files in `inotifywait -r`). After each close() it
# records "<CLOCK_REALTIME ns> <path relative to DIR>"; all lines go to OUT
# at the end. PACE_S > 0 sleeps that long after each file.
import os
import sys
import threading
import time

d, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
threads, per_dir, pace = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
lines = []


def work(t):
    mine = []
    for j, i in enumerate(range(t, n, threads)):
        sub = "w%d/d%04d" % (t, j // per_dir)
        if j % per_dir == 0:
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        rel = "%s/f%06d" % (sub, i)
        fd = os.open(os.path.join(d, rel), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, b"x\n")
        os.close(fd)
        mine.append("%d %s\n" % (time.time_ns(), rel))
        if pace:
            time.sleep(pace)
    lines.extend(mine)


ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
with open(out, "w") as f:
    f.write("".join(lines))
