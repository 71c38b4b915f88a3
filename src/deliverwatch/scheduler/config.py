"""``scheduler:`` in deliverwatch.yaml: which jobs run, how often."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from deliverwatch.config import Duration, _Model


class JobSettings(_Model):
    enabled: bool = True
    interval: Duration
    #: Each job's runs are offset into its interval by a fixed amount up to this, so jobs of
    #: many instances and many jobs do not all start at :00.
    jitter: Duration = timedelta(0)
    #: A run still going after this is cancelled and recorded as failed.
    timeout: Duration = timedelta(minutes=30)

    @model_validator(mode="after")
    def _sane(self) -> JobSettings:
        if self.interval < timedelta(seconds=1):
            raise ValueError("interval must be at least 1s")
        if self.jitter >= self.interval:
            raise ValueError("jitter must be shorter than interval")
        return self


def _job(interval: str, jitter: str = "0s", timeout: str = "30m") -> JobSettings:
    return JobSettings.model_validate({"interval": interval, "jitter": jitter, "timeout": timeout})


class JobsSettings(_Model):
    audit: JobSettings = _job("1h", "5m")
    blocklists: JobSettings = _job("15m", "1m")
    alerts: JobSettings = _job("1m", timeout="5m")
    notify: JobSettings = _job("15s", timeout="5m")
    dmarc_mailbox: JobSettings = _job("5m", "30s")
    placement: JobSettings = _job("1m", timeout="30m")
    compaction: JobSettings = _job("1h", "10m")
    digest_daily: JobSettings = _job("1d", "0s")
    digest_weekly: JobSettings = _job("1w", "0s")


class SchedulerSettings(_Model):
    enabled: bool = True
    #: How often a follower tries to become leader, and the leader renews its lease: a dead
    #: leader is replaced within about this long (SQLite: up to three times it).
    leader_poll: Duration = timedelta(seconds=15)
    #: Keep job run records this long.
    keep_runs: Duration = timedelta(days=30)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
