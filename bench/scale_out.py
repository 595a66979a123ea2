"""Three jobs at once on the scaled-out topology, with one and with two Dask workers.

As processes on loopback (the topology of docker-compose.yml): a Dask scheduler, N Dask workers
(one single-threaded process each), two ``xbarnas serve`` runners on one PostgreSQL database (a
fresh schema, dropped afterwards). Submits the three light digits jobs of the scale-out test and
prints the time from submission until all three succeeded.

    .venv/bin/python bench/scale_out.py [--workers 1 2] [--database-url URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from distributed import Client as DaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parents[1]))  # the topology helpers of the tests
from tests.conftest import DEFAULT_URL
from tests.service.topology import (
    Process,
    connect,
    light_job,
    start_scheduler,
    start_server,
    start_worker,
)


def three_jobs(url: str, workers: int, data_dir: Path) -> float:
    """Seconds from submitting three jobs to all three succeeded, with ``workers`` workers."""
    processes: list[Process] = []
    try:
        scheduler, address = start_scheduler()
        processes.append(scheduler)
        processes += [start_worker(address, f"worker-{i}") for i in range(workers)]
        with DaskClient(address, timeout=30) as dask:
            dask.wait_for_workers(workers, timeout=60)
        env = {"XBARNAS_EXECUTOR": address, "XBARNAS_LEASE_SECONDS": "30"}
        servers = [start_server(url, data_dir, **env) for _ in range(2)]
        processes += [server for server, _ in servers]
        clients = [connect(server, port) for server, port in servers]
        start = time.perf_counter()
        jobs = {clients[seed % 2].submit(light_job(seed))["id"]: seed % 2 for seed in range(3)}
        while True:  # each job belongs to the key that submitted it
            states = [clients[owner].job(job)["status"] for job, owner in jobs.items()]
            if all(state == "succeeded" for state in states):
                return time.perf_counter() - start
            if any(state in ("failed", "cancelled") for state in states):
                raise RuntimeError(f"a job did not succeed: {states}")
            time.sleep(0.5)
    finally:
        for process in reversed(processes):
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    engine = create_engine(args.database_url)
    print("| Dask workers | three jobs (s) |\n|---|---|")
    for workers in args.workers:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        url = make_url(args.database_url).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            with tempfile.TemporaryDirectory() as folder:
                seconds = three_jobs(
                    url.render_as_string(hide_password=False), workers, Path(folder)
                )
        finally:
            with engine.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        print(f"| {workers} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
