"""The testing kit: break the lab on purpose, then count what survived.

Used by the reliability tests (``tests/reliability``), the dashboard tests and
``benchmarks/reliability.py``, so they all inject the same faults and count
the same way. Not part of the product: nothing under ``labs/`` outside this
package imports it. One module per tool:

==================  ===========================================================
``redis_server``    :class:`RedisServer`: a private ``redis-server`` with append-only
                    persistence that can be stopped and started again (a broker restart)
``api_process``     :class:`ApiServer`: the API (``python -m labs api``) in a process of its own
``kills``           :func:`kill_workers_mid_job`: SIGKILL the worker running a job, N times
``accounting``      :func:`account` / :func:`wait_terminal`: per-state counts of a set of
                    jobs from the event log, and the ids that were lost or are stuck
``follower``        :class:`SseFollower`: an SSE client in a thread that resumes with
                    ``Last-Event-ID`` (built on :mod:`labs.client`)
``load``            :func:`submit_load`: many jobs through ``POST /tasks`` from many clients
``bad_input``       :func:`fire_bad_inputs`: malformed requests the API must refuse with a
                    clear 4xx (or a WebSocket error frame / close code), and their :func:`tally`
``netns``           :class:`SecondHost`: a network namespace with its own veth and host name
                    (a second machine), whose link can be cut and healed (a partition)
``waiting``         :func:`wait_until`: poll a condition with a deadline
``children``        :func:`die_with_parent`: child processes that do not outlive their test
``rq_suite``        :func:`rq_suite.run`: RQ's own test suite against the embedded broker or
                    redis-server in a private network namespace, and its Redis baseline
==================  ===========================================================
"""
