"""Builders of raw test messages: what a mail client, an auto-responder or an MTA would send."""

from __future__ import annotations

import itertools
from email.message import EmailMessage
from email.policy import SMTP

_COUNTER = itertools.count(1)


def new_message_id(domain: str = "mail.customer.example") -> str:
    """A fresh Message-ID such as a mail client makes."""
    return f"<m{next(_COUNTER)}.test@{domain}>"


def mail(subject: str = "Printer on floor 3 is broken", body: str = "It jams on every page.\n", *,
         sender: str = "Ann Example <ann@customer.example>", to: str = "support@alpha.example",
         message_id: str | None = "auto", headers: dict[str, str] | None = None, html: str | None = None,
         attachments: list[tuple[str, str, bytes]] | None = None) -> bytes:
    """A message as a mail client sends it: text (and HTML), optional attachments (name, type, bytes)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if message_id == "auto":
        msg["Message-ID"] = new_message_id()
    elif message_id is not None:
        msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments or []:
        maintype, subtype = content_type.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def dsn(original_message_id: str, recipient: str, *, action: str = "failed", status: str = "5.1.1",
        diagnostic: str = "smtp; 550 5.1.1 <x>: Recipient address rejected: User unknown",
        attach: str = "headers") -> bytes:
    """A delivery status notification (RFC 3464) as Postfix sends it, about one of our messages."""
    original = (f"From: helpdesk@alpha.example\r\nTo: {recipient}\r\nSubject: [ATUM-1] We received your request\r\n"
                f"Message-ID: {original_message_id}\r\n\r\n")
    part3 = (f"Content-Type: text/rfc822-headers\r\n\r\n{original}" if attach == "headers"
             else f"Content-Type: message/rfc822\r\n\r\n{original}Hello.\r\n")
    return (
        "From: MAILER-DAEMON@mx.customer.example (Mail Delivery System)\r\n"
        "To: helpdesk@alpha.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {new_message_id('mx.customer.example')}\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BOUND"\r\n\r\n'
        "--BOUND\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n\r\n"
        "--BOUND\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n\r\n"
        f"--BOUND\r\n{part3}\r\n--BOUND--\r\n"
    ).encode()
