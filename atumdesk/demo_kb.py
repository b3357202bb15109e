"""The demo organization's knowledge base: a few categories and articles a visitor of `make run` can
browse, search and get as suggestions on the portal (one internal article and one draft, so staff
see what customers do not)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Article:
    """One demo article: its category, title and Markdown body; who may read it."""

    category: str
    title: str
    body: str
    public: bool = True
    published: bool = True


CATEGORIES: tuple[tuple[str, str], ...] = (
    ("Accounts and sign-in", "Passwords, two-factor codes and locked accounts."),
    ("Printing", "Printers, scanners and paper jams."),
    ("Network and VPN", "Wi-Fi, the VPN and working from home."),
)

ARTICLES: tuple[Article, ...] = (
    Article("Accounts and sign-in", "Reset a forgotten password",
            "1. Open the sign-in page and choose **Forgot your password?**\n"
            "2. Enter the e-mail address of your account.\n"
            "3. Open the link in the mail within an hour and choose a new password.\n\n"
            "The link works once. If no mail arrives, look in the spam folder, then open a ticket."),
    Article("Accounts and sign-in", "My account is locked after too many attempts",
            "After five wrong passwords in a row the account is locked for **15 minutes**. Wait, then "
            "sign in again, or reset your password: a reset unlocks the account at once."),
    Article("Accounts and sign-in", "Set up two-factor authentication",
            "Install an authenticator app, scan the code shown under *Profile → Security*, and enter "
            "the six-digit code. Keep the recovery codes somewhere safe."),
    Article("Printing", "Clear a paper jam",
            "1. Switch the printer off.\n2. Open tray 2 and the rear cover.\n"
            "3. Pull the jammed paper out slowly, in the direction of the paper path.\n"
            "4. Close the covers and switch the printer on.\n\n"
            "Error **E-104** on the display means the jam is in the duplex unit."),
    Article("Printing", "Add a network printer on Windows or macOS",
            "Open the printer settings, choose *Add printer*, and pick the printer by its name on the "
            "label (e.g. `PR-3F-01`). The driver installs by itself."),
    Article("Network and VPN", "Connect to the VPN from home",
            "Start the VPN client, choose the profile **Office**, and sign in with your usual account. "
            "If the connection drops every hour, update the client to the latest version."),
    Article("Network and VPN", "Wi-Fi keeps disconnecting",
            "Forget the network on your device and join it again. If it still drops, note the time and "
            "the room and open a ticket: we can see the access point's log."),
    Article("Network and VPN", "Escalating VPN outages (staff)",
            "Check the VPN gateway's status page first. If more than five customers report drops within "
            "an hour, raise the priority to **Urgent** and inform the network team.", public=False),
    Article("Printing", "Toner ordering (draft)",
            "Toner is ordered by the facilities team. *To be completed.*", published=False),
)
