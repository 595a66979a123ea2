"""Hostile and careless uploads to POST /v1/datasets: zip bombs, oversized bodies, malformed
arrays and forms. Each is refused with a 4xx naming the problem and leaves no file behind."""

import http.client
import io
import json
import re
import socket
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.models import Dataset
from service.runner import Runner
from service.settings import Settings
from tests.search.bombs import write_npz
from tests.search.test_npz_headers import MALFORMED
from tests.service.topology import BIN, Process, free_port

LABELS = np.arange(40) % 4
BOUNDARY = "xbarnas-upload-test"


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _leftovers(*folders: Path) -> list[str]:
    """Files in ``folders`` other than stored data sets."""
    return sorted(
        path.name
        for folder in folders
        for path in folder.rglob("*")
        if path.is_file() and not path.name.startswith("dataset-")
    )


@pytest.fixture
def service(tmp_path, monkeypatch):
    """The API with a 1 MB upload limit and 4 MB of inflated arrays per data set; any temporary
    file the process makes goes to ``tmp_path/tmp``. After each test, no file but the stored
    data sets is left."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'xbarnas.db'}",
        runner=False,
        auth=False,
        data_dir=tmp_path / "data",
        executor="threads",
        max_upload_mb=1,
        max_dataset_mb=4,
    )
    app = create_app(settings)
    with TestClient(app) as client, ThreadPoolExecutor(1) as executor:
        client.database = app.state.database
        client.runner = Runner(settings, app.state.database, executor)
        yield client
    assert _leftovers(tmp_path / "data" / "datasets", tmp_path / "tmp") == []


def test_an_accepted_upload_is_stored_once_with_its_size(service):
    x = np.random.default_rng(0).random((40, 2, 3, 3)).astype(np.float32)
    content = _npz(x=x, y=LABELS)
    response = service.post(
        "/v1/datasets", files={"file": ("blobs.npz", content)}, data={"name": "mine"}
    )
    assert response.status_code == 201, response.text
    named = response.json()
    assert (named["name"], named["input_shape"], named["num_classes"]) == ("mine", [2, 3, 3], 4)
    unnamed = service.post("/v1/datasets", files={"file": ("blobs.npz", content)}).json()
    assert unnamed["name"] == "blobs.npz" and unnamed["examples"] == 40
    with service.database.session() as session:
        row = session.get(Dataset, named["id"])
        stored = Path(row.path)
        assert stored.name == f"dataset-{named['id']}.npz"
        assert row.size_bytes == stored.stat().st_size == len(content)
    files = sorted(path.name for path in stored.parent.iterdir())
    assert files == sorted(f"dataset-{dataset['id']}.npz" for dataset in (named, unnamed))


def test_a_job_whose_data_set_vanished_fails_without_showing_the_path(service):
    content = _npz(x=np.zeros((40, 4)), y=LABELS)
    dataset = service.post("/v1/datasets", files={"file": ("a.npz", content)}).json()
    job = {"task": dataset["task"], "budget": {"trials": 10, "top_k": 1, "train_epochs": 1}}
    response = service.post("/v1/jobs", json=job)
    assert response.status_code == 202, response.text
    with service.database.session() as session:
        Path(session.get(Dataset, dataset["id"]).path).unlink()
    assert service.runner.run_once()
    failed = service.get(f"/v1/jobs/{response.json()['id']}").json()
    assert failed["status"] == "failed"
    assert failed["error"] == f"npz: the data set {dataset['task']} does not exist"


@pytest.mark.parametrize(("array", "arrays"), [
    ("x", {"x": ((2**14, 1, 32, 32), "float32"), "y": ((2**14,), "int64")}),
    ("y", {"x": ((10, 4), "float32"), "y": ((2**23,), "int8")}),
])  # fmt: skip
def test_a_zip_bomb_is_refused_with_413_naming_the_array(service, tmp_path, array, arrays):
    write_npz(tmp_path / "bomb.npz", arrays)  # 64 MB or 8 MB of zeros; 4 MB are allowed
    content = (tmp_path / "bomb.npz").read_bytes()
    (tmp_path / "bomb.npz").unlink()
    response = service.post("/v1/datasets", files={"file": ("bomb.npz", content)})
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert detail.startswith(f"file: {array}: (") and "more than the 4 MB a data set" in detail


@pytest.mark.parametrize(("arrays", "message"), MALFORMED)
def test_malformed_arrays_are_refused_with_422_naming_the_problem(service, arrays, message):
    response = service.post("/v1/datasets", files={"file": ("bad.npz", _npz(**arrays))})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("file: ") and re.search(message.lstrip("^"), detail), detail


def test_an_upload_over_the_wire_limit_is_refused_with_413(service):
    noise = np.random.default_rng(0).bytes(2**20 + 1)  # 1 MB allowed
    response = service.post("/v1/datasets", files={"file": ("big.npz", noise)})
    assert response.status_code == 413
    assert response.json()["detail"] == "file: larger than 1 MB"


def test_bad_forms_are_refused_with_422_naming_the_field(service):
    content = _npz(x=np.zeros((40, 4)), y=LABELS)
    two_files = [("file", ("a.npz", content)), ("file", ("b.npz", content))]
    cases = [
        ({"json": {"file": "x"}}, "file: expected a multipart/form-data body"),
        ({"data": {"name": "no file"}, "files": {"other": ("a", b"1")}}, "file: a part named"),
        ({"files": two_files}, "file: send one file, not several"),
        ({"files": {"file": ("a.npz", content)}, "data": {"name": "n" * 201}}, "name: at most"),
        ({"files": {"file": ("a.npz", b"junk")}}, "file: not a readable .npz file"),
        (
            {
                "content": b"--b\r\nContent-Disposition: form-data; name=file\r\n\r\nhalf",
                "headers": {"Content-Type": "multipart/form-data; boundary=b"},
            },
            "file: a part named file is required",
        ),
        (
            {
                "content": b"garbage",
                "headers": {"Content-Type": "multipart/form-data; boundary=b"},
            },
            "file: not a well-formed multipart/form-data body",
        ),
    ]
    for request, detail in cases:
        response = service.post("/v1/datasets", **request)
        assert response.status_code == 422, (request, response.text)
        assert response.json()["detail"].startswith(detail), response.text


# --- one real server: time and memory ----------------------------------------------------------
def _status_kb(pid: int, field: str) -> int:
    line = next(
        ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith(field)
    )
    return int(line.split()[1])


def _post_file(port: int, content: bytes, pid: int) -> tuple[int, str, float, float]:
    """POST ``content`` as the file: the status, detail, seconds and the server's peak memory
    growth (MB) over the request."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.npz"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = head + content + f"\r\n--{BOUNDARY}--\r\n".encode()
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak (VmHWM) restarts from now
    before = _status_kb(pid, "VmRSS")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start = time.perf_counter()
    connection.request(
        "POST", "/v1/datasets", body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    )
    response = connection.getresponse()
    detail = json.loads(response.read()).get("detail", "")
    seconds = time.perf_counter() - start
    connection.close()
    return response.status, detail, seconds, (_status_kb(pid, "VmHWM") - before) / 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``xbarnas serve`` (API only, no auth) with the default limits: its pid, port and folder."""
    folder = tmp_path_factory.mktemp("server")
    (folder / "tmp").mkdir()
    port = free_port()
    process = Process.spawn(
        [str(BIN / "xbarnas"), "serve", "--port", str(port)],
        {
            "XBARNAS_DATABASE_URL": f"sqlite:///{folder / 'xbarnas.db'}",
            "XBARNAS_DATA_DIR": str(folder / "data"),
            "XBARNAS_RUNNER": "false",
            "XBARNAS_AUTH": "false",
            "TMPDIR": str(folder / "tmp"),
        },
    )
    deadline = time.monotonic() + 120
    while True:
        assert process.popen.poll() is None and time.monotonic() < deadline, process.output()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).close()
            break
        except OSError:
            time.sleep(0.3)
    yield process.popen.pid, port, folder
    process.kill()


def test_bombs_are_refused_within_a_second_and_an_accepted_upload_stays_small(server, tmp_path):
    """6 GB and 40 GB bombs: 413 in under a second, the server's peak memory within 500 MB of
    where it was. A data set that inflates to 256 MB: accepted, checked chunk by chunk, so the
    server's peak grows by a fraction of it."""
    pid, port, folder = server
    n = 2**16
    arrays = {
        "6 GB bomb": {"x": ((6 * 2**18, 1, 32, 32), "float32"), "y": ((6 * 2**18,), "int64")},
        "40 GB bomb": {"x": ((40 * 2**18, 1, 32, 32), "float32"), "y": ((40 * 2**18,), "int8")},
        "256 MB data set": {"x": ((n, 1, 32, 32), "float32"), "y": np.arange(n) % 10},
    }
    answers = {}
    for name, members in arrays.items():
        write_npz(tmp_path / "upload.npz", members)
        answers[name] = _post_file(port, (tmp_path / "upload.npz").read_bytes(), pid)
    print({name: f"{a[0]} in {a[2]:.2f} s, peak +{a[3]:.0f} MB" for name, a in answers.items()})
    for name in ("6 GB bomb", "40 GB bomb"):
        status, detail, seconds, growth_mb = answers[name]
        assert status == 413 and detail.startswith("file: x: ("), (name, detail)
        assert seconds < 1.0 and growth_mb < 500, (name, seconds, growth_mb)
    status, detail, seconds, growth_mb = answers["256 MB data set"]
    assert status == 201 and growth_mb < 64, (detail, growth_mb)
    stored = list((folder / "data" / "datasets").iterdir())
    assert [path.name.startswith("dataset-") for path in stored] == [True]
    assert _leftovers(folder / "tmp") == []


def test_an_interrupted_upload_leaves_no_file(server):
    _, port, folder = server
    uploads = folder / "data" / "datasets"
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.npz"\r\n\r\n'
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(
            b"POST /v1/datasets HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n" + head + bytes(300_000)
        )
        deadline = time.monotonic() + 30
        while not _leftovers(uploads):  # the part being received
            assert time.monotonic() < deadline
            time.sleep(0.1)
    while _leftovers(uploads, folder / "tmp"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
