"""Inbox placement: seed-list tests over real SMTP and IMAP (docs/placement.md).

A run sends one marked message through the configured relay to every seed mailbox, finds it
over IMAP (INBOX, junk folder, Gmail tab) and reports where it landed::

    from deliverwatch.placement.run import run_placement
    run = await run_placement(config.placement, timeout=120)
    run.to_dict()   # overall and per-provider rates, one entry per seed

Modules: ``config`` (the ``placement:`` section), ``message`` (build, mark, sign), ``send``
(SMTP), ``find`` (IMAP), ``folders`` and ``headers`` (pure parsing), ``model`` (results and
rates), ``run`` (one run within its timeout), ``store`` and ``jobs`` (history, schedule).
"""

# deliverwatch.config imports placement.config (the ``placement:`` model), which imports
# deliverwatch.config (``_Model``): loading deliverwatch.config first, from here, makes that
# work whichever of the two a caller imports first.
import deliverwatch.config  # noqa: F401
