"""deliverwatch: email deliverability monitoring."""

import os as _os

from deliverwatch.configfile import pure_python_requested as _pure_python_requested

__version__ = "0.1.0"

if _pure_python_requested(_os.environ):  # see deliverwatch.native
    from deliverwatch.native import use_sources_only

    use_sources_only()
