"""Shared helpers for the csv-ingest task programs (JSON on stdin, JSON on stdout)."""
import json
import os
import sys


def read_input():
    return json.load(sys.stdin)


def reply(obj):
    json.dump(obj, sys.stdout)
    sys.stdout.write("\n")
    sys.exit(0)


def fail(error_type, message):
    """Name the error the way a Lambda function does; the state's Catch/Retry match it."""
    json.dump({"errorType": error_type, "errorMessage": message}, sys.stdout)
    sys.stdout.write("\n")
    sys.exit(1)


def mount_root(path, key):
    """The mount's root directory: the local path minus the object key."""
    from urllib.parse import unquote_plus
    raw = unquote_plus(key)
    if path.endswith("/" + raw):
        return path[: -len(raw) - 1]
    return os.path.dirname(path)


def sibling(path, key, prefix, suffix=""):
    """A path under another top-level prefix of the mount, keeping the base name."""
    root = mount_root(path, key)
    name = os.path.basename(path) + suffix
    out = os.path.join(root, prefix)
    os.makedirs(out, exist_ok=True)
    return os.path.join(out, name)
