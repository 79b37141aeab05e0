"""The file a channel wrote a message to, where it wrote one: the e-mail channel without a mail server
writes each message as an .eml file under ``<KPI_DATA_DIR>/mail`` and says so in its receipt.

Only a file inside that folder counts, so a receipt can never point the admin page's download or the
retention job at another file.
"""

from __future__ import annotations

from pathlib import Path

from kpi_core.storage.models import NotificationMessage

WRITTEN = "written to "
"""How a channel's receipt names the file it wrote (``written to /path/message-000042.eml``)."""


def mail_folder(data_dir: Path) -> Path:
    """Where written messages are kept."""
    return (data_dir / "mail").resolve()


def written_file(message: NotificationMessage, data_dir: Path) -> Path | None:
    """The file written for this sent message, if its receipt names one inside the mail folder and it exists."""
    if message.status != "sent" or not (message.receipt or "").startswith(WRITTEN):
        return None
    path = Path(message.receipt[len(WRITTEN) :]).resolve()
    return path if path.is_relative_to(mail_folder(data_dir)) and path.is_file() else None
