"""Alembic environment: the service's tables and the surrogate's, on the configured URL."""

from alembic import context

from service.models import Base
from surrogate.store import Base as SurrogateBase
from surrogate.store import make_engine

target_metadata = [Base.metadata, SurrogateBase.metadata]


def run_migrations() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
