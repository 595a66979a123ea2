"""The job runner: claims queued jobs, drives the search pipeline, records progress and results.

Several runners (threads or processes, on one PostgreSQL) can share the queue: claims are atomic
and leased (:mod:`service.leases`); a runner that stops heart-beating loses its job to another,
which resumes the search from the job's trial journal. A database outage (restart, lost
connections, unreachable server) pauses a runner's database steps until it is back: each step is a
transaction that is safe to repeat, and candidates are unique per job and architecture.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from search.active import LoopBudget, LoopState, Round
from search.collect import worker_initializer
from search.driver import Candidate as ScoredCandidate
from search.driver import SearchConfig, TrialJournal
from search.job import JobHooks, run_job, surrogate_quality
from search.rescore import front_surrogate, on_chip, rescore_candidates
from search.stopping import StoppableExecutor, sweep_stop_files
from search.surrogates import SurrogateSource
from search.tasks import load_task
from search.verify import VerificationResult
from service.db import Database, RetryingSampleStore, retry_unavailable, unavailable
from service.errors import user_message
from service.leases import claim_next, finish, heartbeat
from service.models import Candidate, Job
from service.rescoring import is_rescore, record_front_prediction, rescore_plan
from service.schemas import JobCreate
from service.settings import Settings
from service.taskspec import task_spec

log = logging.getLogger("xbarnas.runner")
T = TypeVar("T")

# Share of a job's progress bar per phase (the active loop's rounds where a job runs them).
PHASES = {
    "surrogate": (0.0, 0.05),
    "round": (0.05, 0.5),
    "search": (0.5, 0.55),
    "verify": (0.55, 0.95),
    "refit": (0.95, 1.0),
    "rescore": (0.0, 0.95),
}


class JobCancelled(Exception):
    """The job's cancel flag was seen at a progress report."""


class LeaseLost(Exception):
    """Another runner took the job over (this one was presumed dead)."""


def background_worker() -> None:
    """Verification processes of ``xbarnas serve`` run at a lower priority: they yield the cores
    to the API when both want them (its p99 latency during a job: bench/api_load.py)."""
    worker_initializer()
    os.nice(10)


def make_executor(settings: Settings) -> Executor:
    """``XBARNAS_EXECUTOR``: ``local`` (process pool), ``threads``, or a Dask scheduler address
    (e.g. ``tcp://10.0.0.5:8786``), whose workers then run the verifications."""
    if settings.executor == "local":
        return ProcessPoolExecutor(settings.workers or None, initializer=background_worker)
    if settings.executor == "threads":
        return ThreadPoolExecutor(max_workers=settings.workers)
    from distributed import Client
    from distributed.cfexecutor import ClientExecutor

    class DaskExecutor(ClientExecutor):
        """Dask's executor that also closes its client when shut down."""

        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            super().shutdown(wait=wait)
            self._client.close()

    return DaskExecutor(Client(settings.executor, timeout=30))


class RunnerProcess:
    """A runner in a child process of ``xbarnas serve``, at a lower priority: the search holds
    Python's GIL for seconds at a time and would stall the API's requests in the server's own
    process (bench/api_load.py measures them while a job runs)."""

    def __init__(self, settings: Settings) -> None:
        context = multiprocessing.get_context("spawn")
        reader, self._writer = context.Pipe(duplex=False)
        self.process = context.Process(
            target=serve_jobs, args=(settings, reader), name="xbarnas-runner"
        )
        self.process.start()
        reader.close()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the job at hand, or, past ``timeout`` seconds, now (its lease then runs
        out and another runner resumes the job)."""
        self._writer.close()  # the runner sees the end of the pipe
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


def _end_now(*_) -> None:
    """SIGTERM in a runner process: end its verification processes too, then itself."""
    for child in multiprocessing.active_children():
        child.terminate()
    sys.exit(0)


def serve_jobs(settings: Settings, server: Connection) -> None:
    """A runner process: run jobs until the server closes its end of the pipe ``server`` (or
    dies, which closes it too)."""
    signal.signal(signal.SIGTERM, _end_now)
    os.nice(10)  # the search, like the verifications, yields the cores to the API
    runner = Runner(settings, Database(settings.database_url), make_executor(settings))

    def watch() -> None:
        server.poll(None)  # returns at the end of the pipe: nothing is ever sent
        runner.stop()

    threading.Thread(target=watch, name="xbarnas-runner-stop", daemon=True).start()
    try:
        runner.run_forever()
    finally:
        runner.executor.shutdown(cancel_futures=True)


class Runner:
    """Runs jobs from the database, one at a time, until stopped."""

    def __init__(self, settings: Settings, database: Database, executor: Executor) -> None:
        self.settings, self.db, self.executor = settings, database, executor
        self.name = f"runner-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self.store = RetryingSampleStore(database.engine, self._stop)

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.run_once():
                    self._stop.wait(self.settings.poll_seconds)
            except Exception as error:
                if not unavailable(error):
                    raise
                # stopped while the database was out: the job held is resumed when its lease ends

    def stop(self) -> None:
        self._stop.set()

    def run_once(self) -> bool:
        """Claim and run one job; False when the queue was empty."""
        job_id = self._db(claim_next, self.db.sessions, self.name, self.settings.lease_seconds)
        if job_id is None:
            return False
        stops = self.settings.data_dir / "stops"
        sweep_stop_files(stops)
        executor = StoppableExecutor(self.executor, stops / f"{job_id}.{self.name}")
        with self._lease_renewed(job_id):
            try:
                if self._db(is_rescore, self.db.sessions, job_id):
                    self._rescore(job_id, executor)
                else:
                    self._run(job_id, executor)
            except JobCancelled:
                self._db(finish, self.db.sessions, job_id, self.name, "cancelled")
            except LeaseLost:
                pass
            except Exception as error:  # a job's failure is recorded, the runner goes on
                if unavailable(error):
                    raise  # stopping during a database outage: not the job's failure
                log.exception("job %s failed", job_id)  # the trace for the server log only
                message = user_message(error, self.settings.data_dir)
                self._db(finish, self.db.sessions, job_id, self.name, "failed", message)
            finally:  # a cancelled, failed or taken-over job's running verifications end now
                executor.stop()
        return True

    def _db(self, step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A database step (one transaction), waiting out a database outage."""
        return retry_unavailable(partial(step, *args, **kwargs), self._stop)

    @contextmanager
    def _lease_renewed(self, job_id: str) -> Iterator[None]:
        """Renew the job's lease every third of it while the job runs, so that a long step
        without progress reports (a refit on many rows, a slow training) does not lose it: the
        lease runs out only when this process stops (crash, kill, lost machine)."""
        done = threading.Event()

        def renew() -> None:
            seconds = self.settings.lease_seconds
            while not done.wait(seconds / 3):
                try:
                    if not heartbeat(self.db.sessions, job_id, self.name, seconds):
                        return  # finished, or taken over: the job's own reports notice the latter
                except Exception as error:
                    if not unavailable(error):
                        raise
                    log.warning("lease of job %s not renewed: database unavailable", job_id)

        renewer = threading.Thread(target=renew, name=f"lease-{job_id}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()

    def _progress(self, job_id: str):
        def report(phase: str, done: int, total: int, eta: float | None) -> None:
            low, high = PHASES.get(phase.split()[0], (0.3, 1.0))
            fraction = low + (high - low) * (done / total if total else 1.0)
            if not self._db(
                heartbeat,
                self.db.sessions,
                job_id,
                self.name,
                self.settings.lease_seconds,
                phase=phase,
                progress=round(fraction, 4),
                eta_seconds=eta,
            ):
                raise LeaseLost(job_id)
            if self._db(self._cancel_requested, job_id):
                raise JobCancelled(job_id)

        return report

    def _cancel_requested(self, job_id: str) -> bool:
        with self.db.session() as session:
            return session.get(Job, job_id).cancel_requested

    def _request(self, job_id: str) -> tuple[JobCreate, str]:
        """The job's request, and what loads its task."""
        with self.db.session() as session:
            job = session.get(Job, job_id)
            request = JobCreate.model_validate(job.request)
            return request, task_spec(session, request.task, job.owner_id)

    def _run(self, job_id: str, executor: Executor) -> None:
        request, task_name = self._db(self._request, job_id)
        hw = request.hardware.config()
        space = request.search_space()
        config = SearchConfig(
            objectives=tuple(request.objectives),
            trials=request.budget.trials,
            constraints=request.hardware.constraints(),
            seed=request.seed,
        )
        budget = request.verification_budget()
        loop = LoopBudget(
            collection=request.collection_budget(),
            # the surrogate learns digitally trained accuracies: no loop for in-situ training
            rows=request.budget.collect_architectures
            if request.budget.training == "digital"
            else 0,
            batch_size=request.budget.collect_batch,
        )
        progress = self._progress(job_id)
        record = self._db(self._surrogate_record, job_id)
        journal = TrialJournal(self.settings.data_dir / "jobs" / job_id / "trials.jsonl")
        source = SurrogateSource(self.store, self.settings.data_dir / "surrogates")
        hooks = JobHooks(
            progress=progress,
            on_round=lambda round_: self._db(self._add_round, job_id, round_),
            on_searched=lambda searched: self._db(self._store_front, job_id, searched.pareto),
            on_verified=lambda candidate, outcome: self._db(self._save, job_id, candidate, outcome),
        )
        result, bound = run_job(
            task_name,
            load_task(task_name),
            hw,
            space,
            config,
            budget,
            request.budget.top_k,
            loop,
            source,
            executor,
            f"job:{job_id}",
            hooks,
            LoopState.from_dicts(record.get("rounds", [])),
            self._db(self._verified_before, job_id),  # after a crash: what the dead runner did
            journal,
            # the surrogate learns digitally trained accuracies: in-situ results stay out of it
            store_verified=request.budget.training == "digital",
        )
        self._db(self._store_front, job_id, result.search.pareto)
        progress("refit", 0, 1, None)  # renews the lease before the (long) quality fits
        self._db(self._set_quality, job_id, surrogate_quality(source, bound))
        self._db(finish, self.db.sessions, job_id, self.name, "succeeded")

    def _surrogate_record(self, job_id: str) -> dict:
        with self.db.session() as session:
            return dict(session.get(Job, job_id).surrogate or {})

    def _set_quality(self, job_id: str, quality: dict) -> None:
        with self.db.session() as session:
            job = session.get(Job, job_id)
            job.surrogate = {**(job.surrogate or {}), "quality": quality}
            session.commit()

    def _add_round(self, job_id: str, round_: Round) -> None:
        """Append a round of the active loop to the job's record (once: a repeated step after a
        database outage finds it there)."""
        with self.db.session() as session:
            job = session.get(Job, job_id)
            record = dict(job.surrogate or {})
            rounds = [r for r in record.get("rounds", []) if r["number"] != round_.number]
            job.surrogate = {**record, "rounds": [*rounds, round_.to_dict()]}
            session.commit()

    def _rescore(self, job_id: str, executor: Executor) -> None:
        """A rescore job: its parent's trained candidates measured on this job's chip, the rest
        of the parent's front predicted again where a surrogate of the chip exists."""
        plan = self._db(rescore_plan, self.db.sessions, job_id)
        progress = self._progress(job_id)
        progress("rescore", 0, len(plan.verified), None)
        task = load_task(plan.task)
        source = SurrogateSource(self.store, self.settings.data_dir / "surrogates")
        surrogate, front = front_surrogate(source, task, plan.hw, plan.collection)
        self._db(record_front_prediction, self.db.sessions, job_id, front)
        scored = {c.config.id: c for c in on_chip(plan.configs, task, plan.hw, surrogate)}
        done = self._db(self._verified_before, job_id)
        todo = [c for c in plan.verified if c.cfg.id not in done]

        def save(index: int, result: VerificationResult) -> None:
            arch_id = todo[index].cfg.id
            self._db(self._save, job_id, scored[arch_id], result, arch_id in plan.pareto)

        rescore_candidates(todo, plan.task, plan.hw, plan.budget, executor, progress, save)
        self._db(self._store_front, job_id, [scored[arch_id] for arch_id in plan.pareto])
        self._db(finish, self.db.sessions, job_id, self.name, "succeeded")

    def _verified_before(self, job_id: str) -> dict[str, VerificationResult]:
        with self.db.session() as session:
            rows = session.scalars(
                select(Candidate).where(Candidate.job_id == job_id, Candidate.verified.is_not(None))
            ).all()
            return {
                row.architecture_id: VerificationResult.from_dict(
                    {**row.verified, "weights": row.weights}
                )
                for row in rows
            }

    def _save(
        self,
        job_id: str,
        candidate: ScoredCandidate,
        outcome: VerificationResult | None,
        pareto: bool = False,
    ) -> None:
        """Store one candidate, or its verification when it is stored already (the row is
        unique per job and architecture)."""
        verified = {
            "verified": outcome.to_dict() if outcome else None,
            "accuracy_1d": outcome.accuracy_1d if outcome else None,
            "weights": outcome.weights if outcome else None,
            "fidelity": (outcome.fidelity or None) if outcome else None,
        }
        with self.db.session() as session:
            session.add(
                Candidate(
                    job_id=job_id,
                    architecture_id=candidate.config.id,
                    architecture=candidate.config.model_dump(mode="json"),
                    predicted=candidate.predicted,
                    measured=candidate.measured or None,
                    cost=candidate.cost,
                    pareto=pareto,
                    **verified,
                )
            )
            try:
                session.commit()
                return
            except IntegrityError:
                session.rollback()
            if outcome is not None:
                stored = session.scalars(
                    select(Candidate).where(
                        Candidate.job_id == job_id,
                        Candidate.architecture_id == candidate.config.id,
                        Candidate.verified.is_(None),
                    )
                ).first()
                if stored is not None:
                    for name, value in verified.items():
                        setattr(stored, name, value)
                    session.commit()

    def _store_front(self, job_id: str, pareto: list[ScoredCandidate]) -> None:
        """Store the Pareto front and flag it, keeping what is stored (e.g. verifications)."""
        front = {c.config.id: c for c in pareto}
        with self.db.session() as session:
            stored = {
                row.architecture_id: row
                for row in session.scalars(select(Candidate).where(Candidate.job_id == job_id))
            }
            for arch_id in front.keys() & stored.keys():
                stored[arch_id].pareto = True
            session.commit()
        for arch_id in front.keys() - stored.keys():
            self._save(job_id, front[arch_id], None, pareto=True)
