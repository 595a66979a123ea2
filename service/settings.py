"""Service configuration from ``XBARNAS_*`` environment variables."""

from pathlib import Path

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
    lease_seconds: float = 60.0
    poll_seconds: float = 1.0
    max_upload_mb: int = 200
