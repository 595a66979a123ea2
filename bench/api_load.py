"""API latency under load while a job runs: clients poll ``GET /v1/jobs/{id}`` on loopback.

Starts a real ``xbarnas serve`` (a temporary SQLite database, or ``--database-url``), submits the
example digits job, waits until it runs, then sends ``--rate`` requests per second for
``--seconds`` from ``--clients`` threads (each with its own keep-alive connection, requests on a
fixed schedule). Prints p50/p99 latency (send to last byte), throughput, errors, the job phases
seen, and the verdict against the target: p99 < 50 ms at 100 requests/s without errors.

    .venv/bin/python bench/api_load.py [--database-url URL] [--runner inside|apart|none]
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))  # the topology helpers of the tests
from service.schemas import JobCreate
from tests.service.topology import connect, start_server

TARGET_P99_MS = 50.0


def poll(
    port: int,
    key: str,
    path: str,
    times: list[float],
    latencies: list[tuple[float, str]],
    errors: Counter,
) -> None:
    """Send one GET at each of ``times`` (perf_counter seconds); record (seconds, job phase)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {key}"}
    for due in times:
        time.sleep(max(0.0, due - time.perf_counter()))
        start = time.perf_counter()
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            errors[type(error).__name__] += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            continue
        seconds = time.perf_counter() - start
        if response.status != 200:
            errors[f"HTTP {response.status}"] += 1
        latencies.append((seconds, json.loads(body).get("phase", "error")))
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite database")
    parser.add_argument("--executor", default="local", help="XBARNAS_EXECUTOR of the server")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=20, help="concurrent client threads")
    parser.add_argument("--trials", type=int, default=400, help="the job's search trials")
    parser.add_argument(
        "--runner",
        choices=["inside", "apart", "none"],
        default="inside",
        help="the job runner of the polled server (the default `xbarnas serve`), of a second "
        "server (the polled one with XBARNAS_RUNNER=false), or none (a baseline: the job waits)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'xbarnas.db'}"
        data = Path(folder) / "data"
        inside = "true" if args.runner == "inside" else "false"
        server, port = start_server(
            url, data, XBARNAS_RUNNER=inside, XBARNAS_EXECUTOR=args.executor
        )
        servers = [server]
        try:
            client = connect(server, port)
            if args.runner == "apart":
                servers.append(start_server(url, data, XBARNAS_EXECUTOR=args.executor)[0])
            job = JobCreate().model_dump(mode="json")  # the example job
            job["budget"]["trials"] = args.trials
            job = client.submit(job)
            while args.runner != "none" and client.job(job["id"])["status"] == "queued":
                time.sleep(0.2)
            state = client.job(job["id"])["status"]
            print(f"job {job['id']} {state}; {args.rate:g} requests/s for {args.seconds:g} s")
            n = int(args.rate * args.seconds)
            start = time.perf_counter() + 0.5
            schedule = [start + i / args.rate for i in range(n)]
            latencies: list[tuple[float, str]] = []
            errors: Counter = Counter()
            path = f"/v1/jobs/{job['id']}"
            threads = [
                threading.Thread(
                    target=poll,
                    args=(port, client.key, path, schedule[i :: args.clients], latencies, errors),
                )
                for i in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - start
            state = client.job(job["id"])
            client.json("POST", f"{path}/cancel")
        finally:
            for process in servers:
                process.kill(signal.SIGTERM)

    ms = np.array([seconds for seconds, _ in latencies]) * 1000
    p50, p99 = np.percentile(ms, [50, 99])
    failed = sum(errors.values())
    print(f"requests    {n} sent, {len(ms)} answered in {elapsed:.1f} s")
    print(f"throughput  {len(ms) / elapsed:.1f} requests/s")
    print(f"latency     p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ms.max():.1f} ms")
    print(f"errors      {failed} {dict(errors) if errors else ''}")
    for phase in sorted({phase for _, phase in latencies}):  # while the job was in each phase
        seen = np.array([s for s, p in latencies if p == phase]) * 1000
        print(
            f"  {phase:10s}{len(seen):5d} requests, p50 {np.median(seen):.1f} ms, "
            f"p99 {np.percentile(seen, 99):.1f} ms"
        )
    print(f"job         afterwards {state['status']}")
    ok = p99 < TARGET_P99_MS and failed == 0 and len(ms) / elapsed >= 0.95 * args.rate
    print(
        f"target      p99 < {TARGET_P99_MS:g} ms at {args.rate:g}/s, no errors: "
        f"{'met' if ok else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
