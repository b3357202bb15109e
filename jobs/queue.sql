-- The SQL the worker (jobs/worker.py) and handlers (jobs/registry.py) run, by name. The functions
-- are in sql/61_jobs.sql; every call is its own short transaction on the worker's session.

-- worker_id --
SELECT atum_private.job_worker_id(%s) AS id

-- listen --
LISTEN atum_jobs

-- claim --
SELECT id, kind, organization_id, payload, attempts, max_attempts FROM atum_private.job_claim(%s, %s)

-- succeed --
SELECT atum_private.job_succeed(%s, %s) AS recorded

-- fail --
SELECT state::text AS state, run_after FROM atum_private.job_fail(%s, %s, %s, %s)

-- due_in --
SELECT atum_private.job_due_in(%s) AS seconds

-- unhandled --
-- Pending jobs no handler of this worker takes, by kind (logged at start: a missing handler module
-- is otherwise a silent queue).
SELECT j.kind, count(*) AS jobs FROM atum.jobs j
 WHERE j.state IN ('queued', 'failed') AND NOT j.kind = ANY (%s)
 GROUP BY j.kind ORDER BY j.kind

-- enqueue --
SELECT atum_private.job_enqueue(%(kind)s, %(payload)s, %(organization_id)s, %(dedupe_key)s, %(run_after)s,
                                %(max_attempts)s) AS id
