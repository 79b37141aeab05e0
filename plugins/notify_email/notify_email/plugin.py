"""Hook implementation of the e-mail channel (key ``email``)."""

from __future__ import annotations

from kpi_core import hookimpl
from kpi_core.declarations import ChannelContext, DeliveryFailed, NotificationChannel, OutgoingMessage
from kpi_core.notify.addresses import check_email
from notify_email.compose import compose, sender_address
from notify_email.send import mail_folder, send_smtp, server_of, write_eml
from notify_email.smtp_url import SmtpUrlError, parse_smtp_url


def send(message: OutgoingMessage, context: ChannelContext) -> str:
    """Send one message by SMTP (``KPI_SMTP_URL``), or write it as an .eml file when there is no server."""
    problem = check_email(message.to)
    if problem is not None:
        raise DeliveryFailed(
            f"Not sent: {problem}. Correct the address on the technician's record and send it again.", permanent=True
        )
    settings = context.settings
    mail = compose(message, settings.mail_from)
    if not settings.smtp_url:
        return write_eml(mail, mail_folder(context.data_dir), message.id)
    server = server_of(settings.smtp_url)
    return send_smtp(mail, server, sender_address(settings.mail_from), message.to)


def describe(context: ChannelContext) -> str:
    """Where e-mail goes now, in one sentence (the admin page and ``kpi demo`` show it)."""
    settings = context.settings
    if not settings.smtp_url:
        return (
            f"No mail server is set (KPI_SMTP_URL), so each message is written as an .eml file to "
            f"{mail_folder(context.data_dir)} and listed under Messages sent."
        )
    try:
        server = parse_smtp_url(settings.smtp_url)
    except SmtpUrlError as exc:
        return f"E-mail cannot be sent: {exc}."
    return f"E-mail is sent by {server.describe()}, from {settings.mail_from}."


@hookimpl
def kpi_notification_channels() -> list[NotificationChannel]:
    return [
        NotificationChannel(
            key="email",
            label="E-mail",
            send=send,
            settings=("KPI_SMTP_URL", "KPI_MAIL_FROM", "KPI_PUBLIC_URL"),
            description="E-mail by SMTP, with an HTML and a plain-text part and a one-click unsubscribe.",
            describe=describe,
            check_address=check_email,
            # The Message-ID is the message's delivery id on every attempt: mail clients and archives that
            # drop repeated Message-IDs show a message sent again after a crash once.
            deduplicates=True,
            timeout=120,
            attachments=True,
        )
    ]
