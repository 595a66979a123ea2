"""Shared fixtures: a PostgreSQL database for the tests that need one."""

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def postgres_url():
    """A fresh schema in the test PostgreSQL database (dropped afterwards), as a URL.

    Runs always in CI (CI=true); elsewhere a missing server skips the test with the reason.
    """
    url = os.environ.get("XBARNAS_TEST_DATABASE_URL", DEFAULT_URL)
    engine = create_engine(url)
    try:
        with engine.connect():
            pass
    except Exception as error:  # no server, wrong credentials, no driver
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL at {make_url(url).render_as_string()} unreachable: {error}")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()
