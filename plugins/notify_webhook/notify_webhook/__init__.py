"""The webhook notification channel: signed JSON POSTs (HMAC-SHA256) or Slack-compatible bodies.

Endpoints are registered by admins through ``/api/v1/webhooks`` (the host);
this plugin does the sending. Built only on the public plugin API.
"""

from notify_webhook.plugin import kpi_notification_channels

__all__ = ["kpi_notification_channels"]
