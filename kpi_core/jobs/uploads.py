"""Files uploaded for runs of jobs that take one (``JobSpec.takes_file``).

The web layer keeps the upload under the data directory before the run is
queued; the run records where (``job_runs.upload``), never in its params, and
the attempt hands it to the job as ``context.file``. Workers on other machines
must share the data directory, as they do for reports.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from kpi_core.config import Settings
from kpi_core.declarations import UploadedFile

FOLDER = "job-uploads"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def keep(settings: Settings, stream: IO[bytes], filename: str | None, media_type: str | None) -> dict[str, Any]:
    """Copy an upload into the data directory; the description that ``job_runs.upload`` stores."""
    name = (filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:200] or "upload"
    safe = _UNSAFE.sub("_", name).strip("._") or "upload"
    relative = Path(FOLDER) / uuid.uuid4().hex / safe
    target = settings.data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        shutil.copyfileobj(stream, out)
    return {
        "name": name,
        "media_type": media_type or "application/octet-stream",
        "size": target.stat().st_size,
        "path": relative.as_posix(),
    }


def uploaded_file(settings: Settings, upload: Mapping[str, Any] | None) -> UploadedFile | None:
    """What the job sees as ``context.file``."""
    if not upload:
        return None
    return UploadedFile(
        name=upload["name"],
        media_type=upload["media_type"],
        size=upload["size"],
        path=settings.data_dir / upload["path"],
    )
