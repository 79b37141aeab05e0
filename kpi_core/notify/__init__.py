"""Notifications: the outbox, its delivery through the channel plugins, webhooks and unsubscribing.

- :mod:`kpi_core.notify.outbox`: ``queue_message(session, draft, idempotency_key=...)`` in the caller's
  transaction, and ``request_delivery`` / ``kick`` that hand queued messages to the job runner.
- :mod:`kpi_core.notify.delivery`: the ``notify.deliver`` job: claims each due message, sends it
  through its channel (``kpi_notification_channels``), records the outcome, retries with back-off.
- :mod:`kpi_core.notify.webhooks`: endpoints admins register and ``emit_event(session, name, ...)``.
- :mod:`kpi_core.notify.subscriptions`: who receives what, and the signed one-click unsubscribe.
- :mod:`kpi_core.notify.addresses`: the checks of a webhook URL (public addresses only) and of an e-mail address.
"""
