"""The disk store's folder: its marker, the names the store writes, and what else it holds.

Standard library only: config.py checks IMAGE_STORE=file://… with `foreign_entries` in
gunicorn's master, before gevent patches anything.
"""

from __future__ import annotations

import os
import re

# The file the disk store writes into its folder: start-up takes a folder that holds it, a
# new or empty one, or one that holds nothing but what the store writes (as stores made
# before the marker do). A folder that holds anything else is no image store.
STORE_MARKER = ".flux-image-store"
SWEEP_LOCK = ".sweep-lock"  # the file that lets one worker at a time sweep
# How often the store and its reuse index are swept, and how old a file a crash left half
# written must be before a sweep deletes it.
SWEEP_SECONDS = 60.0
REUSE_FOLDER = ".reuse"  # the reuse index beside the images; the sweep skips dotted folders
KEY_FOLDER = re.compile(r"[A-Za-z0-9_-]{2}")  # images sit in folders named by a key's start
# A fresh filesystem's root holds lost+found: a store on a disk of its own starts with it.
_WRITTEN = {STORE_MARKER, SWEEP_LOCK, REUSE_FOLDER, "lost+found"}


def foreign_entries(path: str) -> list[str]:
    """What the folder at `path` holds that the disk store does not write, by name; nothing
    when it holds the store's marker, is empty, or cannot be read (the store says why)."""
    try:
        with os.scandir(path) as entries:
            names = {entry.name: entry.is_dir(follow_symlinks=False) for entry in entries}
    except OSError:
        return []
    if STORE_MARKER in names:
        return []
    return sorted(
        name
        for name, folder in names.items()
        if name not in _WRITTEN and not (folder and KEY_FOLDER.fullmatch(name))
    )
