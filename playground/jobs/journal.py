"""Which SQLite journal suits the ledger's folder: WAL where the filesystem can share memory between processes, the
rollback journal (``DELETE``) on network and FUSE filesystems, which cannot (a Space's bucket mounted as a volume,
NFS, SMB, 9p, Ceph, gcsfuse...). ``PLAYGROUND_SQLITE_JOURNAL=wal|delete`` overrides the choice."""

from __future__ import annotations

import logging
import os
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path

from ..errors import ValidationError

log = logging.getLogger(__name__)

WAL, DELETE = "wal", "delete"
JOURNALS = (WAL, DELETE)
JOURNAL_ENV = "PLAYGROUND_SQLITE_JOURNAL"
MOUNTS = Path("/proc/mounts")
# Filesystem types (as /proc/mounts names them, by prefix) whose locks or shared memory WAL cannot rely on.
NO_SHARED_MEMORY = ("fuse", "nfs", "cifs", "smb", "9p", "ceph", "glusterfs", "lustre", "gpfs", "afs", "davfs",
                    "gcsfuse", "s3fs", "sshfs")


def _unescape(field: str) -> str:
    # /proc/mounts writes spaces, tabs, newlines and backslashes in paths as octal escapes (\040 ...).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _contains(mount_point: str, path: str) -> bool:
    return mount_point == "/" or path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


def filesystem_of(mounts: str, path: str | os.PathLike) -> str:
    """The type of the filesystem ``path`` lies on, from the text of ``/proc/mounts`` (the longest mount point that
    contains it; of two mounts on one point the later, which hides the earlier). "" when none contains it."""
    where = posixpath.normpath(str(path))
    best, kind = "", ""
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point = posixpath.normpath(_unescape(parts[1]))
        if _contains(point, where) and len(point) >= len(best):
            best, kind = point, parts[2]
    return kind


def journal_for_mounts(mounts: str, path: str | os.PathLike) -> str:
    """``"delete"`` (rollback journal) when ``path`` lies on a network or FUSE filesystem, else ``"wal"``.

    >>> mounts = "overlay / overlay rw 0 0\\nbucket /data fuse.hf-mount rw 0 0\\n"
    >>> journal_for_mounts(mounts, "/data/seedance-playground"), journal_for_mounts(mounts, "/database")
    ('delete', 'wal')
    """
    return DELETE if filesystem_of(mounts, path).lower().startswith(NO_SHARED_MEMORY) else WAL


def parse_journal(value: str | None, source: str = JOURNAL_ENV) -> str | None:
    """``"wal"`` or ``"delete"`` from a setting (any case), None when it is empty; a clear error naming ``source``."""
    text = (value or "").strip().lower()
    if not text:
        return None
    if text not in JOURNALS:
        raise ValidationError(f"{source}: {value!r} is not one of {', '.join(JOURNALS)}")
    return text


def choose_journal(folder: str | os.PathLike, *, journal: str | None = None, env: Mapping[str, str] | None = None,
                   mounts_file: Path = MOUNTS) -> str:
    """The journal for a ledger in ``folder``: ``journal`` when given, else ``PLAYGROUND_SQLITE_JOURNAL``, else the
    filesystem's choice (:func:`journal_for_mounts`; WAL where the mounts cannot be read). The choice is logged."""
    env = os.environ if env is None else env
    chosen = parse_journal(journal, "journal")
    reason = "asked for"
    if chosen is None:
        chosen, reason = parse_journal(env.get(JOURNAL_ENV)), f"from {JOURNAL_ENV}"
    if chosen is None:
        real = os.path.realpath(folder)
        try:
            mounts = mounts_file.read_text(errors="replace")
        except OSError:
            mounts = ""
        kind = filesystem_of(mounts, real) or "unknown"
        chosen, reason = journal_for_mounts(mounts, real), f"the folder is on a {kind} filesystem"
    log.info("ledger in %s: SQLite %s journal (%s)", folder, "WAL" if chosen == WAL else "rollback (DELETE)", reason)
    return chosen
