"""deliverwatch: email deliverability monitoring."""

import os as _os

from deliverwatch.configfile import PURE_ENV as _PURE_ENV

__version__ = "0.1.0"

if _os.environ.get(_PURE_ENV, "") not in ("", "0"):  # see deliverwatch.native
    from deliverwatch.native import use_sources_only

    use_sources_only()
