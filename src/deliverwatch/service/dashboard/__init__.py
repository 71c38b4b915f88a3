"""The web dashboard: server-rendered pages over :mod:`deliverwatch.service.views`, every
asset served by the app under ``/static`` (no CDN, no external fonts), charts drawn as SVG on
the server (:mod:`.charts`).

    app = create_app(config)          # calls install_dashboard(app, config)

Pages need a session made by logging in with an API token (``deliverwatch tokens create``);
actions (acknowledge, silence) are POSTs carrying the session's CSRF token and are refused
to read-only tokens. docs/dashboard.md shows each page.
"""

from __future__ import annotations

from deliverwatch.service.dashboard.pages import STATIC_DIR, install_dashboard

__all__ = ["STATIC_DIR", "install_dashboard"]
