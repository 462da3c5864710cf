"""Helpers shared by the document-pipeline tasks."""
import json
import os
import sys
from urllib.parse import unquote_plus


def read():
    return json.load(sys.stdin)


def reply(obj):
    json.dump(obj, sys.stdout)
    sys.exit(0)


def root_of(path, key):
    raw = unquote_plus(key)
    return path[: -len(raw) - 1] if path.endswith("/" + raw) else os.path.dirname(path)
