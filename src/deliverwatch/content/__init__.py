"""``deliverwatch lint``: pre-send checks of a message or template's headers, body and links."""
