"""The scaled-out topology as processes on loopback: a Dask scheduler, Dask workers and
`xbarnas serve` runners, each in its own process group, so that a kill takes its children too.

Used by the scale-out tests and by the benchmarks in ``bench/`` (the same processes that
docker-compose.yml runs in containers).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from service.client import Client
from service.schemas import JobCreate

BIN = Path(sys.executable).parent
LIGHT_TOP_K = 2


def light_job(seed: int) -> dict:
    """The digits job on the shipped surrogate, cut to a few seconds of work per candidate
    (small networks: at most 16 tiles of 256x256; no post-training)."""
    job = JobCreate(seed=seed).model_dump(mode="json")
    job["hardware"]["max_tiles"] = 16
    job["budget"].update(
        trials=20, top_k=LIGHT_TOP_K, train_epochs=1, mc_samples=1, post_training=False
    )
    return job


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Process:
    """A child process group and the lines it printed so far."""

    popen: subprocess.Popen
    lines: list[str] = field(default_factory=list)
    key_file: Path | None = None  # of a server: where it keeps its local API key

    @classmethod
    def spawn(cls, args: list[str], env: dict[str, str] | None = None) -> Process:
        popen = subprocess.Popen(
            args,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        process = cls(popen)
        threading.Thread(target=lambda: process.lines.extend(popen.stdout), daemon=True).start()
        return process

    def output(self) -> str:
        return "".join(self.lines)

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal the whole group; wait for the leader (SIGKILL if SIGTERM is not enough)."""
        if self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=30)


def _wait_for_port(port: int, process: Process, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.popen.poll() is None, process.output()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}:\n{process.output()}")


def start_scheduler() -> tuple[Process, str]:
    """``dask scheduler`` on a free loopback port; the process and its address."""
    port = free_port()
    scheduler = Process.spawn(
        [
            str(BIN / "dask"),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ]
    )
    _wait_for_port(port, scheduler)
    return scheduler, f"tcp://127.0.0.1:{port}"


def start_worker(scheduler: str, name: str) -> Process:
    """``dask worker`` with one single-threaded process, as docker-compose runs it."""
    options = ["--nthreads", "1", "--nworkers", "1", "--memory-limit", "0", "--no-dashboard"]
    return Process.spawn(
        [str(BIN / "dask"), "worker", scheduler, "--name", name, "--host", "127.0.0.1", *options]
    )


def start_server(url: str, data_dir: Path, **env: str) -> tuple[Process, int]:
    """``xbarnas serve`` (API + runner) with ``XBARNAS_*`` settings ``env``; the process and its
    port (``connect`` waits for it)."""
    port = free_port()
    server = Process.spawn(
        [str(BIN / "xbarnas"), "serve", "--port", str(port)],
        {
            "XBARNAS_DATABASE_URL": url,
            "XBARNAS_DATA_DIR": str(data_dir),
            "XBARNAS_POLL_SECONDS": "0.2",
            **env,
        },
    )
    server.key_file = data_dir / "local-key"
    return server, port


def connect(server: Process, port: int) -> Client:
    """A client of a starting server, with its local API key (from the file, as the key is
    printed to a terminal only), once it serves."""
    deadline = time.monotonic() + 60
    while not any("local API key" in line for line in server.lines):
        assert server.popen.poll() is None and time.monotonic() < deadline, server.output()
        time.sleep(0.2)
    key = server.key_file.read_text().strip()
    _wait_for_port(port, server)
    return Client(f"http://127.0.0.1:{port}", key)
