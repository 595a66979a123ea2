"""A small HTTP client of the xbarnas API (standard library only), used by the CLI."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


class ApiError(RuntimeError):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail = status, detail


@dataclass
class Client:
    server: str
    key: str | None = None
    timeout: float = 60.0

    def request(self, method: str, path: str, body: Any = None) -> tuple[bytes, dict[str, str]]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server.rstrip("/") + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.key:
            request.add_header("Authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                detail = json.loads(raw).get("detail", raw.decode())
            except (json.JSONDecodeError, AttributeError):
                detail = raw.decode(errors="replace")
            raise ApiError(error.code, detail) from None

    def json(self, method: str, path: str, body: Any = None) -> Any:
        content, _ = self.request(method, path, body)
        return json.loads(content)

    def submit(self, job: dict[str, Any]) -> dict[str, Any]:
        return self.json("POST", "/v1/jobs", job)

    def job(self, job_id: str) -> dict[str, Any]:
        return self.json("GET", f"/v1/jobs/{job_id}")

    def jobs(self) -> dict[str, Any]:
        return self.json("GET", "/v1/jobs")

    def candidates(self, job_id: str) -> list[dict[str, Any]]:
        return self.json("GET", f"/v1/jobs/{job_id}/candidates")

    def rescore(self, job_id: str, hardware: dict[str, Any]) -> dict[str, Any]:
        return self.json("POST", f"/v1/jobs/{job_id}/rescore", {"hardware": hardware})

    def record(self, architecture_id: str, job_id: str | None = None) -> dict[str, Any]:
        query = f"?job={job_id}" if job_id else ""
        return self.json("GET", f"/v1/architectures/{architecture_id}/record{query}")

    def export(self, architecture_id: str, fmt: str) -> tuple[bytes, str]:
        content, headers = self.request(
            "GET", f"/v1/architectures/{architecture_id}/export?format={fmt}"
        )
        disposition = headers.get("content-disposition") or headers.get("Content-Disposition", "")
        filename = disposition.split('filename="')[-1].rstrip('"') or f"{architecture_id}.{fmt}"
        return content, filename
