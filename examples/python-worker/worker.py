#!/usr/bin/env python3
"""A Troika worker in Python, standard library only.

It speaks the WorkerService protocol over JSON (Connect over HTTP/1.1):
claim a batch of jobs (long-polling when there is no work), run each, and
ack the batch with Complete / Fail. Every ack carries the lease token the
claim returned; a stale token is refused per item with
"failed_precondition", which this worker logs and moves on from.

    python3 worker.py --server http://127.0.0.1:7600 --queue default

Environment: TROIKA_TOKEN (a worker token) when the server has tokens.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request


class TroikaError(Exception):
    """A Connect error: code (e.g. "invalid_argument") and message."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


class Client:
    def __init__(self, server, token=None, timeout=70.0):
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, service, method, body):
        """POST /troika.v1.<service>/<method> with a JSON body; return the reply."""
        req = urllib.request.Request(
            f"{self.server}/troika.v1.{service}/{method}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            try:
                err = json.load(e)
            except ValueError:
                err = {"code": "unknown", "message": str(e)}
            raise TroikaError(err.get("code", "unknown"), err.get("message", "")) from None


# The handlers, by job kind: each takes the job's args and returns a
# JSON-serialisable result, or raises to fail the attempt.
def add(args):
    return {"sum": args["a"] + args["b"]}


def fail(args):
    raise ValueError(args.get("reason", "asked to fail"))


HANDLERS = {"py.add": add, "py.fail": fail}


def work(client, queue, batch, lease_seconds, wait_seconds, worker_id, exit_when_idle):
    done = 0
    while True:
        reply = client.call("WorkerService", "Claim", {
            "queues": [queue], "max": batch, "leaseSeconds": lease_seconds,
            "waitSeconds": wait_seconds, "workerId": worker_id,
        })
        jobs = reply.get("jobs") or []
        if not jobs:
            if exit_when_idle:
                return done
            continue
        completes, fails = [], []
        for job in jobs:
            lease = {"id": job["id"], "leaseToken": job["leaseToken"]}
            handler = HANDLERS.get(job["kind"])
            try:
                if handler is None:
                    raise LookupError(f"no handler for kind {job['kind']!r}")
                completes.append({**lease, "result": handler(job["args"])})
            except Exception as e:  # the attempt fails; the server retries it
                fails.append({**lease, "error": f"{type(e).__name__}: {e}",
                              "retryable": handler is not None})
        for method, items in (("Complete", completes), ("Fail", fails)):
            if not items:
                continue
            results = client.call("WorkerService", method, {"leases": items})["results"]
            for r in results:
                if r["code"] == "ok":
                    done += 1
                else:  # e.g. failed_precondition: the lease was lost, nothing changed
                    print(f"{method} {r['id']}: {r['code']} {r['message']}", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default=os.environ.get("TROIKA_SERVER", "http://127.0.0.1:7600"))
    p.add_argument("--queue", default="default")
    p.add_argument("--batch", type=int, default=50, help="jobs per claim")
    p.add_argument("--lease-seconds", type=float, default=30)
    p.add_argument("--wait-seconds", type=float, default=20, help="long-poll for work this long")
    p.add_argument("--worker-id", default=f"python-{os.getpid()}")
    p.add_argument("--exit-when-idle", action="store_true", help="exit after a claim that found no work")
    a = p.parse_args()
    client = Client(a.server, os.environ.get("TROIKA_TOKEN"))
    try:
        n = work(client, a.queue, a.batch, a.lease_seconds, a.wait_seconds, a.worker_id, a.exit_when_idle)
    except TroikaError as e:
        print(f"troika: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    print(f"acked {n} jobs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
