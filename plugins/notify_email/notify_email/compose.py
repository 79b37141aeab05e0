"""An outgoing message as an e-mail: multipart/alternative (plain text and HTML), attachments, headers.

The HTML is the message's fragment inside ``templates/message.html``: one
centred column at most 600 px wide that narrows to a phone's width, inline
CSS only (mail clients drop ``<style>`` blocks and external sheets), tables
for layout, and no images, so nothing is fetched from outside when it is
opened. The plain-text part carries the same words. Messages sent under a
subscription carry RFC 8058 one-click unsubscribe headers and a link to the
unsubscribe page in both bodies.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses
from functools import lru_cache

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from kpi_core.declarations import OutgoingMessage
from kpi_core.notify.subscriptions import label_of

FALLBACK_DOMAIN = "handyman-kpi.invalid"


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("notify_email", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def sender_address(mail_from: str) -> str:
    """The bare address of ``KPI_MAIL_FROM`` (``kpi@example.com`` of ``Handyman KPI <kpi@example.com>``)."""
    found = getaddresses([mail_from])
    return found[0][1] if found and found[0][1] else mail_from.strip()


def message_id(delivery_id: str, mail_from: str) -> str:
    """The Message-ID: the delivery id at the sender's domain, the same on every attempt of the message."""
    domain = sender_address(mail_from).rpartition("@")[2] or FALLBACK_DOMAIN
    return f"<{delivery_id}@{domain}>"


PARAGRAPH = Markup('<p style="margin:0 0 16px 0;">{}</p>')


def _paragraphs(text: str) -> Markup:
    """Plain text as HTML paragraphs (escaped), for messages that bring no HTML of their own."""
    blocks = [block.strip() for block in text.split("\n\n") if block.strip()]
    return Markup("").join(PARAGRAPH.format(Markup("<br>").join(block.splitlines())) for block in blocks)


def compose(message: OutgoingMessage, mail_from: str, *, product: str = "Handyman KPI") -> EmailMessage:
    """The e-mail for ``message``: headers, both bodies and the attachments."""
    mail = EmailMessage()
    mail["From"] = mail_from
    mail["To"] = Address(addr_spec=message.to)
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = message_id(message.delivery_id, mail_from)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    mail["X-KPI-Delivery"] = message.delivery_id
    what = label_of(message.kind) if message.kind else None
    if message.unsubscribe_url:
        domain = sender_address(mail_from).rpartition("@")[2] or FALLBACK_DOMAIN
        mail["List-Id"] = f"{what or 'messages'} <{(message.kind or 'messages').replace('_', '-')}.{domain}>"
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(_text_body(message, what, product))
    # The HTML fragment is the host's own (rendered by the code that queued the message), not a user's text.
    body = Markup(message.html) if message.html else _paragraphs(message.text)  # noqa: S704
    template = _templates().get_template("message.html")
    what_for = {"unsubscribe": message.unsubscribe_page, "what": what}
    rendered = template.render(subject=message.subject, body=body, product=product, **what_for)
    mail.add_alternative(rendered, subtype="html")
    for attachment in message.attachments:
        media_type = attachment.media_type.split(";")[0].strip() or "application/octet-stream"
        maintype, _, subtype = media_type.partition("/")
        mail.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype or "octet-stream", filename=attachment.name
        )
    return mail


def _text_body(message: OutgoingMessage, what: str | None, product: str) -> str:
    text = message.text.rstrip() + "\n"
    if message.unsubscribe_page:
        text += f"\n-- \nYou receive {what} from {product}. To stop: {message.unsubscribe_page}\n"
    return text
