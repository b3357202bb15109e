"""TLS for the mail servers the worker talks to (IMAP and SMTP): one policy for both."""

from __future__ import annotations

import ssl

from atumdesk.settings import Settings


def mail_tls_context(settings: Settings) -> ssl.SSLContext:
    """Certificate and host name verified against the system's CAs, plus ATUM_MAIL_CA_FILE's when set
    (a private CA); verification is never switched off."""
    context = ssl.create_default_context()
    if settings.mail_ca_file is not None:
        context.load_verify_locations(cafile=str(settings.mail_ca_file))
    return context
