"""Sending events: ESP webhooks and files in, normalized :class:`~.model.Event` records out."""
