"""The alert engine: rules and detectors over the store, a lifecycle state machine kept in
the store, routes to notification channels through the durable outbox (docs/alerts.md).

``engine.evaluate(engine, config, clock)`` runs one cycle; ``store`` holds the queries and
the actions (acknowledge, resolve, silences) the CLI, the API and the dashboard share.
"""

# deliverwatch.config imports alerts.config (its ``alerting:`` model) and alerts.config imports
# deliverwatch.config (``_Model``): loading deliverwatch.config first, from here, makes that
# work whichever of the two a caller imports first.
import deliverwatch.config  # noqa: F401
