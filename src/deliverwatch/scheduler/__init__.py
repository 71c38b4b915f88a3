"""The service's scheduler: periodic jobs, run once per tick by one leader (docs/service.md).

Ticks are fixed slots of each job's interval, offset by a per-job jitter every instance
computes alike; a run begins by inserting its (job, tick) row, so a tick runs once however
many instances share the store, and whichever instance leads.
"""
