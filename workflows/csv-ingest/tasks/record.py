#!/usr/bin/env python3
"""Record the ingested file's metadata in SQLite ($INGEST_DB, default /var/tmp/stepfs-csv-ingest.db)."""
import os
import sqlite3
from common import read_input, reply

req = read_input()
db = sqlite3.connect(os.environ.get("INGEST_DB") or "/var/tmp/stepfs-csv-ingest.db", timeout=30)
with db:
    db.execute("""CREATE TABLE IF NOT EXISTS ingested (
        id INTEGER PRIMARY KEY, key TEXT, etag TEXT, rows INTEGER, columns INTEGER,
        output TEXT, execution TEXT UNIQUE, at TEXT DEFAULT CURRENT_TIMESTAMP)""")
    # the execution name is unique: a Task re-run after a crash records once
    db.execute("""INSERT INTO ingested (key, etag, rows, columns, output, execution)
                  VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(execution) DO NOTHING""",
               (req["key"], req.get("etag"), req["rows"], req["columns"], req["output"],
                req["execution"]))
    row_id = db.execute("SELECT id FROM ingested WHERE execution = ?",
                        (req["execution"],)).fetchone()[0]
reply({"id": row_id, "key": req["key"], "rows": req["rows"], "output": req["output"]})
