"""A folder that readers use while it is replaced (the exported champion): never missing, never half
written."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """An empty folder to fill; once the block ends without an error, `target` shows it, in one step.

    `target` is a symbolic link re-pointed by an atomic rename, so a reader finds the old content or
    the new, never none. The content shown before stays until the next replacement (a reader may still
    be loading from it); older versions are deleted. A plain folder at `target` is moved aside first,
    the one time it is not atomic (a folder cannot be swapped for a link in one step)."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}-"))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    link = parent / f".{target.name}.link"
    link.unlink(missing_ok=True)
    link.symlink_to(staging.name)  # relative: the parent folder may be moved as a whole
    previous = None
    if target.is_symlink():
        previous = target.resolve()
    elif target.exists():
        previous = parent / f"{staging.name}.before"
        target.rename(previous)
    os.replace(link, target)
    for version in parent.glob(f".{target.name}-*"):
        if version.resolve() not in {staging.resolve(), previous}:
            shutil.rmtree(version, ignore_errors=True)
