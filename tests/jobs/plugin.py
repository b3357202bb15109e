"""Job handlers for the worker tests, never loaded in production: the tests start `atumdesk worker`
with ``ATUM_WORKER_EXTRA_MODULES=tests.jobs.plugin``.

``test.effect`` records each run in ``public.job_effects`` (a table the tests create), idempotently
per job as a real handler would be — one row per job, with how often it ran, on which attempts and
by which worker — and then does what its payload asks:

- ``{"lock": n}``: first wait for the advisory lock n (the test holds it to keep the job running);
- ``{"fail_until_attempt": n}``: raise RuntimeError (a two-line message) on attempts 1 … n;
- ``{"permanent": true}``: raise PermanentError.
"""

from __future__ import annotations

from jobs.registry import Job, JobContext, PermanentError, handler

KIND = "test.effect"


@handler(KIND)
def effect(ctx: JobContext, job: Job) -> None:
    """Record the run, then fail or not as the payload says."""
    with ctx.connect() as conn:
        if "lock" in job.payload:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [int(job.payload["lock"])])
        conn.execute(
            "INSERT INTO public.job_effects AS e (job_id, runs, attempts, worker_id) VALUES (%s, 1, ARRAY[%s], %s)"
            " ON CONFLICT (job_id) DO UPDATE"
            " SET runs = e.runs + 1, attempts = e.attempts || excluded.attempts, worker_id = excluded.worker_id",
            [job.id, job.attempts, ctx.worker_id])
    ctx.log.info("effect recorded", extra={"payload_keys": sorted(job.payload)})
    if job.attempts <= int(job.payload.get("fail_until_attempt", 0)):
        raise RuntimeError(f"boom on attempt {job.attempts}\n  (the second line of the message)")
    if job.payload.get("permanent"):
        raise PermanentError(f"job {job.id} names nothing that exists")
