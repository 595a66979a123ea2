"""The ``xbarnas`` command line."""

import typer
import uvicorn

from service import __version__
from service.settings import Settings

app = typer.Typer(help="xbarnas: architecture search for analog in-memory-computing chips.")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"xbarnas {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Architecture search for analog in-memory-computing chips."""


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to bind (default: XBARNAS_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default: XBARNAS_PORT or 8000)."),
) -> None:
    """Start the API server on the embedded defaults."""
    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    typer.echo(f"xbarnas {__version__} serving on http://{host}:{port} (docs at /docs)")
    uvicorn.run("service.app:create_app", factory=True, host=host, port=port)
