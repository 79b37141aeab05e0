"""The e-mail notification channel: SMTP (``KPI_SMTP_URL``, ``KPI_MAIL_FROM``), or .eml files without a server.

Built only on the public plugin API: ``kpi_core.hookimpl``, the declarations
in ``kpi_core.declarations`` and the address checks of ``kpi_core.notify``.
"""

from notify_email.plugin import kpi_notification_channels

__all__ = ["kpi_notification_channels"]
