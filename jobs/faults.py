"""Crash points for the crash tests: the worker dies here, as if killed, when told to.

``ATUM_CRASH_AT`` names one point (e.g. ``mail.after_commit``); when the running code reaches
``crash_point`` with that name the process kills itself with SIGKILL — no clean-up, no finally
blocks, exactly like a power cut or the OOM killer. Unset in production: a no-op.
"""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    """Die at once with SIGKILL if ``ATUM_CRASH_AT`` names this point."""
    if os.environ.get("ATUM_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
