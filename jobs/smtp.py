"""Handing one message to the SMTP relay (``ATUM_SMTP_*``), and telling its failures apart.

Security follows ``ATUM_SMTP_SECURITY``: ``tls`` (implicit TLS, usually port 465), ``starttls``
(the plain port upgraded before anything else is said; a server that does not offer STARTTLS is
an error, never a reason to carry on in clear) or ``none`` (a relay on the same host, without
authentication). Certificates are always verified — against the system's CAs and, when
``ATUM_MAIL_CA_FILE`` is set, that file's as well; there is no switch to turn verification off.

What a failure means for the notification:

* ``Refused``: the server refused this message for good (a 5xx for the recipient or the data):
  sending it again cannot help, the notification is failed.
* ``SmtpUnavailable`` (and its ``NotConfigured``): anything else — no relay configured, connection
  refused or timed out, a TLS or authentication problem, a 4xx: the job is retried with backoff.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from atumdesk.settings import Settings
from jobs.tls import mail_tls_context

TIMEOUT_SECONDS = 30.0
NOT_CONFIGURED = "SMTP is not configured: set ATUM_SMTP_HOST"


class SmtpUnavailable(Exception):
    """The message could not be handed over now; trying again later may work."""


class NotConfigured(SmtpUnavailable):
    """No SMTP relay is configured (ATUM_SMTP_HOST)."""


class Refused(Exception):
    """The server refused this message for good (5xx): it is not sent again."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code


def _reply(response: bytes | str) -> str:
    text = response.decode("utf-8", "replace") if isinstance(response, bytes) else str(response)
    return " ".join(text.split())[:300]


def _connect(settings: Settings) -> smtplib.SMTP:
    host, port = settings.smtp_host or "", settings.smtp_port
    # local_hostname: the EHLO name; the mail domain rather than a reverse lookup of this host.
    if settings.smtp_security == "tls":
        return smtplib.SMTP_SSL(host, port, local_hostname=settings.mail_domain, timeout=TIMEOUT_SECONDS,
                                context=mail_tls_context(settings))
    smtp = smtplib.SMTP(host, port, local_hostname=settings.mail_domain, timeout=TIMEOUT_SECONDS)
    try:
        if settings.smtp_security == "starttls":
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise SmtpUnavailable(f"SMTP {host}:{port} does not offer STARTTLS (ATUM_SMTP_SECURITY=starttls); "
                                      "the message is not sent in clear")
            smtp.starttls(context=mail_tls_context(settings))
            smtp.ehlo()
    except BaseException:
        smtp.close()
        raise
    return smtp


def send(settings: Settings, message: EmailMessage, sender: str, recipient: str) -> None:
    """Hand ``message`` to the relay for ``recipient`` (envelope sender ``sender``).

    Returns when the server accepted it; raises ``Refused`` or ``SmtpUnavailable``.
    """
    if not settings.smtp_host:
        raise NotConfigured(NOT_CONFIGURED)
    where = f"SMTP {settings.smtp_host}:{settings.smtp_port}"
    if settings.smtp_username and settings.smtp_security == "none":
        raise SmtpUnavailable(f"{where}: ATUM_SMTP_USERNAME is set but ATUM_SMTP_SECURITY is none; the password "
                              "would cross the network in clear (use starttls or tls)")
    try:
        smtp = _connect(settings)
        try:
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password or "")
            smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()), (0, b""))
        if code >= 500:
            raise Refused(code, f"the mail server refused recipient {recipient}: {code} {_reply(text)}") from None
        raise SmtpUnavailable(f"{where}: recipient {recipient} deferred: {code} {_reply(text)}") from None
    except smtplib.SMTPDataError as exc:
        if exc.smtp_code >= 500:
            raise Refused(exc.smtp_code,
                          f"the mail server refused the message: {exc.smtp_code} {_reply(exc.smtp_error)}") from None
        raise SmtpUnavailable(f"{where}: message deferred: {exc.smtp_code} {_reply(exc.smtp_error)}") from None
    except smtplib.SMTPSenderRefused as exc:
        # The envelope sender is configuration (ATUM_MAIL_FROM), not this message: retried.
        raise SmtpUnavailable(f"{where}: sender {sender} refused: {exc.smtp_code} {_reply(exc.smtp_error)} "
                              "(check ATUM_MAIL_FROM)") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise SmtpUnavailable(f"{where}: authentication failed: {exc.smtp_code} {_reply(exc.smtp_error)} "
                              "(check ATUM_SMTP_USERNAME and ATUM_SMTP_PASSWORD)") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise SmtpUnavailable(f"{where}: {_reply(str(exc))}") from None
    except smtplib.SMTPResponseException as exc:
        raise SmtpUnavailable(f"{where}: {exc.smtp_code} {_reply(exc.smtp_error)}") from None
    except ssl.SSLCertVerificationError as exc:
        raise SmtpUnavailable(f"{where}: the server's certificate is not trusted ({exc.verify_message}); "
                              "set ATUM_MAIL_CA_FILE to the CA that signed it") from None
    except ssl.SSLError as exc:
        raise SmtpUnavailable(f"{where}: TLS failed: {exc.reason or exc}") from None
    except smtplib.SMTPServerDisconnected as exc:
        raise SmtpUnavailable(f"{where}: the server closed the connection ({_reply(str(exc))})") from None
    except smtplib.SMTPException as exc:
        raise SmtpUnavailable(f"{where}: {_reply(str(exc))}") from None
    except TimeoutError:
        raise SmtpUnavailable(f"{where}: no answer within {TIMEOUT_SECONDS:.0f} seconds") from None
    except OSError as exc:
        raise SmtpUnavailable(f"{where}: cannot connect: {exc.strerror or exc}") from None
