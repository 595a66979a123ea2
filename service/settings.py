"""Service configuration from ``XBARNAS_*`` environment variables."""

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XBARNAS_")

    database_url: str = "sqlite:///./xbarnas.db"
    # "local": a process pool; "threads": threads in the server; else a Dask scheduler address
    executor: str = "local"
    workers: int = 2
    data_dir: Path = Path("./data")
    host: str = "127.0.0.1"
    port: int = 8000
    runner: bool = True  # run jobs inside `xbarnas serve`
    auth: bool = True  # API keys required; each key sees only its own jobs
    # signs dashboard sessions and export links; unset: DATA_DIR/secret-key, created once
    secret_key: SecretStr | None = None
    session_hours: float = 24.0  # lifetime of a dashboard session cookie
    lease_seconds: float = 60.0
    poll_seconds: float = 1.0
    max_upload_mb: int = 200
    max_dataset_mb: int = 2048  # the most an upload's arrays may inflate to
    # per-key quotas (service.quotas): over one, the API answers 429 with Retry-After
    quota_active_jobs: int = 8  # queued or running jobs
    quota_datasets: int = 20  # stored data sets
    quota_dataset_bytes: int = 4 * 2**30  # stored data set bytes
    quota_job_trials: int = 20_000  # one job's budget.trials
    quota_job_work: int = 8_000  # one job's trained epochs x chips (see quotas.job_work)
