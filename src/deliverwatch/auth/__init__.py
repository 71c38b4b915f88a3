"""Domain authentication checks: one module per standard, each with a ``check_*`` coroutine."""
