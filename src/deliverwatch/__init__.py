"""deliverwatch: email deliverability monitoring."""

import os as _os

__version__ = "0.1.0"

if _os.environ.get("DELIVERWATCH_PURE_PYTHON", "") not in ("", "0"):  # see deliverwatch.native
    from deliverwatch.native import use_sources_only

    use_sources_only()
