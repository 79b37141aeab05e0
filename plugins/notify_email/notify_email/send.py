"""Delivering a composed e-mail: to the SMTP server of ``KPI_SMTP_URL``, or as an .eml file without one.

Every failure is a :class:`~kpi_core.declarations.DeliveryFailed` whose
reason says what happened in words; ``permanent`` where sending again cannot
help (the server refused the recipient with a 5xx, the address is invalid),
so the host marks the message failed at once instead of retrying it.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from email import policy
from email.message import EmailMessage
from pathlib import Path

from kpi_core.declarations import DeliveryFailed
from notify_email.smtp_url import SmtpServer, SmtpUrlError, parse_smtp_url

MAIL_FOLDER = "mail"


def mail_folder(data_dir: Path | str) -> Path:
    """Where messages are written without KPI_SMTP_URL: ``<data directory>/mail``."""
    return Path(data_dir) / MAIL_FOLDER


def write_eml(mail: EmailMessage, folder: Path, message_id: int) -> str:
    """Write the message to ``<folder>/message-<id>.eml`` (atomically; a second attempt replaces the first)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"message-{message_id:06d}.eml"
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".writing-", suffix=".eml")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(mail.as_bytes(policy=policy.SMTP))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return f"written to {target}"


def server_of(url: str) -> SmtpServer:
    try:
        return parse_smtp_url(url)
    except SmtpUrlError as exc:
        # Not permanent: once an admin corrects KPI_SMTP_URL, the retries go through.
        raise DeliveryFailed(str(exc)) from None


def send_smtp(mail: EmailMessage, server: SmtpServer, sender: str, recipient: str) -> str:
    """Hand the message to the server; returns its answer (``250 ... queued as ...``) as the receipt."""
    where = f"{server.host}:{server.port}"
    context = ssl.create_default_context()
    try:
        client = _connect(server, context)
        with client:
            client.ehlo()
            if server.security == "starttls":
                if not client.has_extn("starttls"):
                    raise DeliveryFailed(
                        f"The mail server {where} does not offer STARTTLS, which smtp+starttls:// requires; nothing "
                        "was sent over an unencrypted connection"
                    )
                client.starttls(context=context)
                client.ehlo()
            if server.username is not None:
                client.login(server.username, server.password or "")
            code, answer = client.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, answer, sender)
            code, answer = client.rcpt(recipient)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({recipient: (code, answer)})
            code, answer = client.data(mail.as_bytes(policy=policy.SMTP))
            return f"accepted by {where}: {code} {_text(answer)}"
    except DeliveryFailed:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        code, answer = next(iter(exc.recipients.values()))
        raise DeliveryFailed(
            f"The mail server {where} refused the recipient {recipient}: {code} {_text(answer)}",
            permanent=code >= 500,
        ) from None
    except smtplib.SMTPSenderRefused as exc:
        raise DeliveryFailed(
            f"The mail server {where} refused the sender {sender} (KPI_MAIL_FROM): {exc.smtp_code} "
            f"{_text(exc.smtp_error)}"
        ) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryFailed(
            f"The mail server {where} refused the login of {server.username} (KPI_SMTP_URL): {exc.smtp_code} "
            f"{_text(exc.smtp_error)}"
        ) from None
    except smtplib.SMTPDataError as exc:
        raise DeliveryFailed(
            f"The mail server {where} refused the message: {exc.smtp_code} {_text(exc.smtp_error)}",
            permanent=exc.smtp_code >= 500,
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryFailed(
            f"The certificate of the mail server {where} could not be verified ({exc.verify_message}); for a "
            "private certificate authority set SSL_CERT_FILE to its certificate"
        ) from None
    except (smtplib.SMTPException, ssl.SSLError) as exc:
        raise DeliveryFailed(f"Sending to the mail server {where} failed: {type(exc).__name__}: {exc}") from None
    except TimeoutError:
        raise DeliveryFailed(f"The mail server {where} did not answer within {server.timeout:g} s") from None
    except OSError as exc:
        raise DeliveryFailed(f"The mail server {where} cannot be reached: {exc.strerror or exc}") from None


def _connect(server: SmtpServer, context: ssl.SSLContext) -> smtplib.SMTP:
    if server.security == "tls":
        return smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout, context=context)
    return smtplib.SMTP(server.host, server.port, timeout=server.timeout)


def _text(answer: bytes | str) -> str:
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
    return " ".join(text.split())
