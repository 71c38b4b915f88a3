"""Notifications: the :class:`~deliverwatch.notify.model.Notification` record, one module per
channel (``channels/``) and the durable outbox (``outbox.py``, ``delivery.py``).

docs/notifications.md describes each channel's configuration and payload.
"""

# deliverwatch.config imports notify.config (its ``notifications:`` model) and notify.config
# imports deliverwatch.config (``_Model``): loading deliverwatch.config first, from here, makes
# that work whichever of the two a caller imports first.
import deliverwatch.config  # noqa: F401
