#!/usr/bin/env python3
"""Copy an approved document to published/ in the bucket."""
import os
import shutil
from doclib import read, reply

doc = read()
out_dir = os.path.join(doc["root"], "published")
os.makedirs(out_dir, exist_ok=True)
out = os.path.join(out_dir, doc["name"])
shutil.copyfile(doc["path"], out + ".tmp")
os.replace(out + ".tmp", out)
reply({"published": out, "type": doc["type"], "summary": doc.get("summary")})
