"""deliverwatch: email deliverability monitoring."""

__version__ = "0.1.0"
