"""The JSON files `bench` and `train` write, all or nothing, and the check that their folder is writable."""
import json
import os

from .errors import UsageError


def write_json_atomically(files):
    """files: {path: object}. Writes every PATH.tmp first, then renames them all: nothing half-written."""
    tmps = []
    try:
        for path, obj in files.items():
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                tmps.append(tmp)
                json.dump(obj, f, indent=2)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
        for path in files:
            os.replace(path + ".tmp", path)
    except OSError as e:
        for tmp in tmps:
            if os.path.exists(tmp):
                os.remove(tmp)
        raise UsageError(f"{e.filename or '?'}: cannot write: {e.strerror or e}") from e


def check_writable(option, path):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageError(f"{option} {path}: folder {folder} does not exist or is not writable")
