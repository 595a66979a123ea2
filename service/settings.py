"""Service configuration from ``XBARNAS_*`` environment variables."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XBARNAS_")

    database_url: str = "sqlite:///./xbarnas.db"
    executor: str = "local"
    data_dir: Path = Path("./data")
    host: str = "127.0.0.1"
    port: int = 8000
