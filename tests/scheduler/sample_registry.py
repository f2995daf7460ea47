"""A job module for tests, loaded through SCHEDULER_EXTRA_JOB_MODULES."""

from evalsys.scheduler import jobs

if not any(spec.id == "sample-count" for spec in jobs.JOBS):
    jobs.register(
        jobs.JobSpec(
            "sample-count",
            "Sample count",
            "tests.scheduler.sample_jobs:slow_count",
            "cron",
            {"hour": 2},
        )
    )
