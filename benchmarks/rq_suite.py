"""RQ 3.0.0's own test suite against the embedded broker (or Redis), inside a private network namespace.

    sudo .venv/bin/python benchmarks/rq_suite.py                    # the embedded broker
    sudo .venv/bin/python benchmarks/rq_suite.py --redis            # redis-server, for comparison
    sudo .venv/bin/python benchmarks/rq_suite.py --redis --record   # ... and refresh tests/broker/rq_suite_redis.txt
    sudo .venv/bin/python benchmarks/rq_suite.py --compare          # what CI checks (tests/broker/test_rq_suite.py)
    sudo .venv/bin/python benchmarks/rq_suite.py -- -k worker       # more arguments for pytest
    sudo .venv/bin/python benchmarks/rq_suite.py --load 4 --files test_worker_pool.py -- -k test_reap_workers
                                                                    # ... with 4 busy-loop processes running

Prints the failures and the passed / failed / skipped counts with the time
taken, and exits non-zero if a test failed (with ``--compare``: if a test that
passes on Redis fails on the embedded broker, rerun and all; see
:mod:`labs.testing.rq_suite`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from labs.testing import rq_suite


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", action="store_true", help="run redis-server instead of the embedded broker")
    parser.add_argument("--files", default="test_*.py", help="which of RQ's test files (a glob in its tests/)")
    parser.add_argument("--record", action="store_true", help="with --redis: write the outcomes to the baseline file")
    parser.add_argument("--compare", action="store_true", help="the embedded broker against the recorded Redis baseline")
    parser.add_argument("--load", type=int, default=0, help="this many busy-loop processes run meanwhile (a loaded machine)")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    if reason := rq_suite.namespaces_unavailable():
        raise SystemExit(reason)
    server: rq_suite.Server = "redis" if args.redis else "embedded"
    print(f"RQ {rq_suite.RQ_VERSION}'s tests against {server} at 127.0.0.1:6379 in a network namespace", flush=True)
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        run = rq_suite.run(server, files=args.files, pytest_args=args.pytest_args)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    for test_id, outcome in sorted(run.results.items()):
        if outcome in ("failed", "error", "hung"):
            print(f"{outcome.upper():7} {test_id}")
    print(run.summary(), f"(pytest output: {run.log})")
    if run.lingered:
        print(f"left processes running (killed): {', '.join(run.lingered)}")
    if args.record:
        if not args.redis:
            raise SystemExit("--record records a Redis run: add --redis")
        again = rq_suite.recheck_on(run, "redis")
        rq_suite.write_baseline(run)
        print(f"recorded {rq_suite.BASELINE}" + (f" (passed when run again: {', '.join(again)})" if again else ""))
    if args.compare:
        suspects = rq_suite.not_passing(rq_suite.read_baseline(), run)
        verdict = rq_suite.recheck(suspects)
        print(f"passed on Redis, not on the embedded broker: {suspects or 'none'}")
        print(f"  passed when run again: {verdict.passed_again or 'none'}")
        print(f"  fail on Redis here too: {verdict.on_both or 'none'}")
        print(f"  the embedded broker's fault: {verdict.embedded_only or 'none'}")
        return 1 if verdict.embedded_only else 0
    counts = run.counts()
    return 0 if not (counts["failed"] or counts["error"] or counts["hung"]) else 1


if __name__ == "__main__":
    sys.exit(main())
