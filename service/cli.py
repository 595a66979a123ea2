"""The ``xbarnas`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
import uvicorn

from service import __version__
from service.settings import Settings

app = typer.Typer(help="xbarnas: architecture search for analog in-memory-computing chips.")
surrogate_app = typer.Typer(help="Collect data for, fit and evaluate accuracy surrogates.")
app.add_typer(surrogate_app, name="surrogate")
db_app = typer.Typer(help="The service database.")
app.add_typer(db_app, name="db")
keys_app = typer.Typer(help="API keys.")
app.add_typer(keys_app, name="keys")

PRESET = typer.Option("pcm", help="Hardware preset: pcm, rram or ideal.")
TILE_ROWS = typer.Option(256, help="Crossbar tile rows.")
TILE_COLS = typer.Option(256, help="Crossbar tile columns.")
TASK = typer.Option("digits", help="Built-in task name.")
DATABASE = typer.Option(None, help="Database URL (default: XBARNAS_DATABASE_URL).")
TRAIN_EXAMPLES = typer.Option(None, help="Fidelity: class-balanced training subset (default all).")
TEST_EXAMPLES = typer.Option(None, help="Fidelity: validation and test subsets (default all).")
EPOCHS = typer.Option(None, help="Fidelity: training epochs (default: cheap, 6).")
MC_SAMPLES = typer.Option(None, help="Fidelity: chips per drift time (default: cheap, 8).")


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
    new_key: bool = typer.Option(
        False, "--new-key", help="Replace (and revoke) the local API key with a new one."
    ),
) -> None:
    """Start the API server on the embedded defaults."""
    from service.db import upgrade
    from service.logredact import uvicorn_log_config

    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    upgrade(settings.database_url)
    typer.echo(f"xbarnas {__version__} serving on http://{host}:{port} (docs at /docs)")
    if settings.auth:  # like a notebook server: the person who started it gets straight in
        _announce_local_key(settings, f"http://{host}:{port}", new_key)
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_config=uvicorn_log_config(),  # no token in a log line
    )


def _announce_local_key(settings: Settings, url: str, renew: bool) -> None:
    """The local key (created on the first start, or when renewed) and the dashboard's URL. The
    URL with the key goes to a terminal only: a standard output that is not one is a log."""
    from service.db import Database
    from service.localkey import LOCAL_KEY_FILE, local_key

    database = Database(settings.database_url)
    try:
        key, created = local_key(database, settings.data_dir, renew)
    finally:
        database.engine.dispose()
    path = (settings.data_dir / LOCAL_KEY_FILE).resolve()
    typer.echo(f"{'new' if created else 'your'} local API key: in {path} (readable by you only)")
    if sys.stdout.isatty():
        typer.echo(f"open {url}/?token={key}")
    else:
        typer.echo(f"open {url}/?token=KEY with KEY from that file")


class PhaseBars:
    """One terminal progress bar per pipeline phase, each closed when the next one starts."""

    def __init__(self) -> None:
        self.phase: str | None = None
        self.bar = None

    def __call__(self, phase: str, done: int, total: int, eta: float | None = None) -> None:
        if phase != self.phase:
            self.close()
            self.phase = phase
            self.bar = typer.progressbar(length=max(total, 1), label=f"{phase:15s}")
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def __enter__(self) -> PhaseBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _key_database(database: str | None):
    from service.db import Database, upgrade

    url = database or Settings().database_url
    upgrade(url)
    return Database(url)


@keys_app.command("create")
def keys_create(
    name: str = typer.Option(..., help="Who or what the key is for."),
    expires_in: int = typer.Option(None, min=1, help="Days until it expires (default: never)."),
    database: str = DATABASE,
) -> None:
    """Create an API key; the key itself is printed alone on the last line, once."""
    from datetime import timedelta

    from service.auth import create_key
    from service.models import utcnow

    expires_at = utcnow() + timedelta(days=expires_in) if expires_in else None
    with _key_database(database).session() as session:
        key, plaintext = create_key(session, name, expires_at)
    until = f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
    typer.echo(f"created key {key.id} for {name!r}{until}; send it as 'Authorization: Bearer KEY':")
    typer.echo(plaintext)


@keys_app.command("list")
def keys_list(database: str = DATABASE) -> None:
    """The keys: id, name, created, expires, last used (to the minute), revoked; never the key."""
    from sqlalchemy import select

    from service.auth import aware
    from service.models import ApiKey

    def when(moment) -> str:
        return f"{aware(moment):%Y-%m-%d %H:%M}" if moment else "-"

    with _key_database(database).session() as session:
        keys = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
    typer.echo(
        f"{'id':>4s}  {'name':30s} {'created':16s}  {'expires':16s}  {'last used':16s}  revoked"
    )
    for k in keys:
        typer.echo(
            f"{k.id:4d}  {k.name[:30]:30s} {when(k.created_at):16s}  {when(k.expires_at):16s}  "
            f"{when(k.last_used_at):16s}  {when(k.revoked_at)}"
        )


@keys_app.command("revoke")
def keys_revoke(
    key: str = typer.Argument(..., help="The key's id, or its name if no other key has it."),
    database: str = DATABASE,
) -> None:
    """Revoke a key: it, its dashboard sessions and its export links get 401 from now on."""
    from sqlalchemy import select

    from service.auth import revoke
    from service.models import ApiKey

    with _key_database(database).session() as session:
        by_id = session.get(ApiKey, int(key)) if key.isdecimal() else None
        active = select(ApiKey).where(ApiKey.name == key, ApiKey.revoked_at.is_(None))
        found = [by_id] if by_id else session.scalars(active).all()
        if not found:
            raise typer.BadParameter(f"{key!r} is no key's id nor an active key's name")
        if len(found) > 1:
            ids = ", ".join(str(k.id) for k in found)
            raise typer.BadParameter(f"{key!r} is the name of keys {ids}: give an id")
        revoked = revoke(session, found[0])
    typer.echo(f"revoked key {revoked.id} ({revoked.name!r})")


@db_app.command("upgrade")
def db_upgrade(database: str = DATABASE) -> None:
    """Apply the migrations: bring the database to the newest schema."""
    from service.db import upgrade

    url = database or Settings().database_url
    upgrade(url)
    typer.echo(f"database at {url} is up to date")


def _space(name: str, low_rank: bool = False):
    from search.space import SearchSpace

    spaces = {"tiny": SearchSpace.tiny, "full": SearchSpace}
    if name not in spaces:
        raise typer.BadParameter(f"space: {name!r} is not one of {sorted(spaces)}")
    return spaces[name]().with_ranks() if low_rank else spaces[name]()


def _collection(
    train_examples: int | None,
    test_examples: int | None,
    epochs: int | None,
    mc_samples: int | None,
):
    """The cheap collection budget at the fidelity of the options."""
    from pydantic import ValidationError

    from search.collect import collection_budget

    given = {"epochs": epochs, "mc_samples": mc_samples}
    try:
        return collection_budget(
            train_examples, test_examples, **{k: v for k, v in given.items() if v is not None}
        )
    except ValidationError as error:
        raise typer.BadParameter(str(error)) from error


def _hardware(preset: str, tile_rows: int, tile_cols: int):
    from simulator import HardwareConfig

    try:
        return HardwareConfig.preset(preset, tile_rows=tile_rows, tile_cols=tile_cols)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


def _chip(spec: str):
    """A chip from ``PRESET[:ROWSxCOLS][,FIELD=VALUE...]`` (see ``HardwareConfig.from_spec``)."""
    from simulator import HardwareConfig

    try:
        return HardwareConfig.from_spec(spec)
    except ValueError as error:  # pydantic's ValidationError too
        raise typer.BadParameter(f"{spec!r}: {error}") from error


@surrogate_app.command("collect")
def surrogate_collect(
    task: str = TASK,
    preset: str = PRESET,
    tile_rows: int = TILE_ROWS,
    tile_cols: int = TILE_COLS,
    space: str = typer.Option("tiny", help="Search space bounds: tiny or full."),
    low_rank: bool = typer.Option(
        False, "--low-rank", help="The rank dimension: low-rank classifier and widest layers."
    ),
    max_tiles: int = typer.Option(None, help="Only architectures that fit this many tiles."),
    n: int = typer.Option(300, "-n", help="Architectures to verify."),
    seed: int = typer.Option(0, help="Seed of the architecture sample."),
    workers: int = typer.Option(2, help="Worker processes."),
    train_examples: int = TRAIN_EXAMPLES,
    test_examples: int = TEST_EXAMPLES,
    epochs: int = EPOCHS,
    mc_samples: int = MC_SAMPLES,
    database: str = DATABASE,
    export: Path = typer.Option(
        None, help="Also write the task's rows to this folder, a JSON-lines file per chip."
    ),
    also_on: list[str] = typer.Option(
        [],
        "--also-on",
        help="Also measure each trained network on this chip (repeatable): "
        "PRESET[:ROWSxCOLS][,FIELD=VALUE...], e.g. rram:128x128,adc_bits=6.",
    ),
) -> None:
    """Verify N spread-out architectures cheaply and store them (resumable). Each network is
    trained for the chip of --preset/--tile-rows/--tile-cols and measured on it and on every
    --also-on chip."""
    from search.collect import collect, local_executor
    from search.tasks import load_task
    from surrogate.store import SampleStore

    hw = _hardware(preset, tile_rows, tile_cols)
    chips = [_chip(spec) for spec in also_on]
    budget = _collection(train_examples, test_examples, epochs, mc_samples)
    store = SampleStore.open(database or Settings().database_url)
    bounds = _space(space, low_rank)
    with local_executor(workers) as executor, PhaseBars() as bars:
        report = collect(
            task,
            hw,
            bounds,
            n,
            store,
            budget,
            seed=seed,
            max_tiles=max_tiles,
            executor=executor,
            progress=lambda done, total: bars("verify", done, total),
            also_on=chips,
        )
    typer.echo(
        f"added {report.added}, already stored {report.skipped}, failed {len(report.failed)}"
    )
    for failure in report.failed:
        typer.echo(f"  failed: {failure}", err=True)
    if export:
        for chip in (hw, *chips):
            path = export / f"{load_task(task).name}-{chip.config_hash()}.jsonl"
            rows = store.export_jsonl(path, load_task(task).name, chip.config_hash())
            typer.echo(f"wrote {rows} rows to {path}")


def _known_rows(data: list[Path], database: str | None) -> list[dict]:
    """Rows of JSON-lines files (``.jsonl`` or ``.jsonl.gz``; a folder: all of them in it), or
    else of the database."""
    from surrogate.store import SampleStore, read_rows

    if not data:
        return SampleStore.open(database or Settings().database_url).all_rows()
    return read_rows(data)


def _profiled_groups(rows: list[dict], profiles: Path | None):
    """Groups of rows by context, with the task profiles of ``profiles`` (default: the shipped
    ones), measuring those of built-in tasks it lacks (kept in that file)."""
    from search.fidelity import Fidelity
    from search.surrogates import SHIPPED_PROFILES, ProfileBook, by_context, groups_of
    from search.tasks import BUILTIN_TASKS, load_task

    book = ProfileBook(profiles or SHIPPED_PROFILES)
    contexts = by_context(rows)
    for (task, _, _), found in contexts.items():
        if task in BUILTIN_TASKS:
            book.profile(load_task(task), Fidelity.of_budget(found[0]["budget"]))
    return groups_of(contexts, book)


DATA = typer.Option([], "--data", help="JSON-lines rows or folders of them (default: database).")
PROFILES = typer.Option(None, help="Task profiles file (default: the shipped one).")


@surrogate_app.command("fit")
def surrogate_fit(
    data: list[Path] = DATA,
    database: str = DATABASE,
    profiles: Path = PROFILES,
    holdout: bool = typer.Option(True, help="Report each context's held-out quality."),
    out: Path = typer.Option(None, help="Model file (default: the package's pooled model)."),
) -> None:
    """Fit the pooled surrogate on rows of every task, chip and fidelity; print, per context,
    its rows and its quality on a quarter of them held out of a fit on all the others."""
    from surrogate.fitting import SHIPPED_MODEL, context_holdout, fit_pooled

    groups = _profiled_groups(_known_rows(data, database), profiles)
    if not groups:
        raise typer.BadParameter("no rows of a task with a known profile")
    surrogate = fit_pooled(groups)
    reports = {}
    for g in groups:
        report = context_holdout([o for o in groups if o is not g], g) if holdout else None
        reports[g.context.key] = report
        line = f"{g.context.key}: {len(g.encodings)} architectures"
        if report:
            line += (
                f"; held out {report['n']}: Kendall tau {report['accuracy_1d']['kendall_tau']:.3f}"
                f", better half {report['kendall_tau_better_half']:.3f}, parameter count "
                f"{report['params_baseline_kendall_tau']:.3f}"
            )
        typer.echo(line)
    surrogate.metadata["holdout"] = reports
    out = out or SHIPPED_MODEL
    surrogate.save(out)
    typer.echo(f"fitted on {surrogate.metadata['n_samples']} rows; saved {out}")


@surrogate_app.command("eval")
def surrogate_eval(
    model: Path = typer.Option(..., help="Surrogate model file."),
    data: list[Path] = DATA,
    database: str = DATABASE,
    profiles: Path = PROFILES,
) -> None:
    """Ranking metrics of a saved surrogate on rows, per context (Kendall tau overall and among
    the better half, Spearman rho, top-k, beside parameter count's tau)."""
    from surrogate.fitting import quality
    from surrogate.models import Surrogate

    surrogate = Surrogate.load(model)
    report = {
        g.context.key: quality(surrogate.bind(g.context), g.encodings, g.targets)
        for g in _profiled_groups(_known_rows(data, database), profiles)
    }
    typer.echo(json.dumps(report, indent=2))


@app.command()
def search(
    task: str = TASK,
    preset: str = PRESET,
    tile_rows: int = TILE_ROWS,
    tile_cols: int = TILE_COLS,
    max_tiles: int = typer.Option(None, help="Hard limit: tiles."),
    max_params: int = typer.Option(None, help="Hard limit: parameters."),
    max_energy_nj: float = typer.Option(None, help="Hard limit: energy per inference, nJ."),
    max_latency_us: float = typer.Option(None, help="Hard limit: latency per inference, us."),
    objectives: str = typer.Option(
        "accuracy_1d,tiles",
        help="Comma-separated objectives: accuracy_1d, avm, tiles, energy, latency, params.",
    ),
    space: str = typer.Option("tiny", help="Search space bounds: tiny or full."),
    low_rank: bool = typer.Option(
        False, "--low-rank", help="The rank dimension: low-rank classifier and widest layers."
    ),
    trials: int = typer.Option(1000, help="Architectures the evolutionary search scores."),
    population: int = typer.Option(50, help="NSGA population size."),
    algorithm: str = typer.Option("nsga2", help="nsga2, nsga3 or random."),
    top_k: int = typer.Option(3, help="Diverse Pareto candidates to verify."),
    epochs: int = typer.Option(30, help="Training epochs of each verification."),
    mc_samples: int = typer.Option(25, help="Programmed chips per drift time."),
    seed: int = typer.Option(0, help="Seed of search and verification."),
    baseline: list[str] = typer.Option([], help="Also verify: random, resnet8 (repeatable)."),
    workers: int = typer.Option(2, help="Worker processes for verification."),
    surrogate_rows: int = typer.Option(
        24, help="Where the surrogate knows too little of task and chip: rows its loop verifies."
    ),
    mutation_prob: float = typer.Option(None, help="NSGA mutation probability (1/params)."),
    crossover: str = typer.Option("uniform", help="NSGA crossover operator."),
    crossover_prob: float = typer.Option(0.9, help="NSGA crossover probability."),
    database: str = DATABASE,
    out: Path = typer.Option(Path("search-results"), help="Folder for the result files."),
) -> None:
    """Run the whole pipeline in the terminal: surrogate, search, verification."""
    from pydantic import ValidationError

    from search.active import LoopBudget
    from search.collect import local_executor, task_collection_budget
    from search.driver import Constraints, SearchConfig, TrialJournal
    from search.job import JobHooks, run_job
    from search.surrogates import SurrogateSource
    from search.tasks import load_task
    from search.training import TrainConfig
    from search.verify import Budget
    from surrogate.store import SampleStore

    hw = _hardware(preset, tile_rows, tile_cols)
    try:
        config = SearchConfig(
            objectives=tuple(o.strip() for o in objectives.split(",") if o.strip()),
            constraints=Constraints(
                max_tiles=max_tiles,
                max_params=max_params,
                max_energy_nj=max_energy_nj,
                max_latency_us=max_latency_us,
            ),
            trials=trials,
            population=population,
            algorithm=algorithm,
            mutation_prob=mutation_prob,
            crossover=crossover,
            crossover_prob=crossover_prob,
            seed=seed,
        )
        budget = Budget(train=TrainConfig(epochs=epochs, seed=seed), mc_samples=mc_samples)
    except ValidationError as error:
        raise typer.BadParameter(str(error)) from error
    unknown = set(baseline) - {"random", "resnet8"}
    if unknown:
        raise typer.BadParameter(f"baseline: unknown {sorted(unknown)}; use random, resnet8")
    bounds = _space(space, low_rank)
    settings = Settings()
    store = SampleStore.open(database or settings.database_url)
    out.mkdir(parents=True, exist_ok=True)
    source = SurrogateSource(store, settings.data_dir / "surrogates")
    loop = LoopBudget(task_collection_budget(task), surrogate_rows, batch_size=2 * workers)
    with local_executor(workers) as executor, PhaseBars() as progress:
        result, _ = run_job(
            task,
            load_task(task),
            hw,
            bounds,
            config,
            budget,
            top_k,
            loop,
            source,
            executor,
            "search",
            JobHooks(progress=progress),
            journal=TrialJournal(out / "trials.jsonl"),
            baselines=tuple(baseline),
        )
    _print_tables(result, config.objectives)
    (out / "pareto.json").write_text(
        json.dumps([c.to_dict() for c in result.search.pareto], indent=1)
    )
    summary = {
        "task": task,
        "hardware": hw.model_dump(mode="json"),
        "search": config.model_dump(mode="json"),
        "budget": budget.model_dump(mode="json"),
        "verified": [v.to_dict() for v in result.verified],
        "baselines": {k: [v.to_dict() for v in vs] for k, vs in result.baselines.items()},
    }
    (out / "verified.json").write_text(json.dumps(summary, indent=1))
    _write_models(result, task, hw, out / "models")
    typer.echo(
        f"\nfiles: {out / 'pareto.json'}, {out / 'verified.json'}, {out / 'trials.jsonl'}, "
        f"{out / 'models'} (ONNX and analog bundles of the verified candidates)"
    )


def _write_models(result, task_name: str, hw, folder: Path) -> None:
    """ONNX and the analog bundle of every verified search candidate."""
    from search.space import ArchConfig
    from search.tasks import load_task
    from service.exports import export

    task = load_task(task_name)
    folder.mkdir(parents=True, exist_ok=True)
    for verified in result.verified:
        cfg = ArchConfig.model_validate(verified.result.arch)
        for fmt in ("onnx", "analog"):
            exported = export(
                fmt, cfg, task.input_shape, task.num_classes, hw, verified.result.weights
            )
            (folder / exported.filename).write_bytes(exported.content)


def _print_tables(result, objectives) -> None:
    typer.echo(
        f"\nPareto front ({len(result.search.pareto)} feasible, non-dominated; "
        f"objectives {', '.join(objectives)}):"
    )
    typer.echo(
        f"{'architecture':18s} {'pred. acc 1d':>12s} {'+-':>6s} {'measured':>8s} {'avm':>7s} "
        f"{'tiles':>6s} {'params':>9s} {'energy nJ':>10s}"
    )
    for c in result.search.pareto[:20]:
        p, k = c.predicted, c.cost
        measured = f"{c.measured['accuracy_1d']:8.4f}" if c.measured else f"{'-':>8s}"
        typer.echo(
            f"{c.config.id:18s} {p['accuracy_1d']:12.4f} {p['accuracy_1d_std']:6.3f} {measured} "
            f"{p['avm']:7.4f} {k['tiles']:6.0f} {k['params']:9.0f} {k['energy']:10.1f}"
        )
    typer.echo("\nVerified (mean over programmed chips):")
    typer.echo(
        f"{'source':8s} {'architecture':18s} {'digital':>8s} {'1 s':>7s} {'1 day':>7s} "
        f"{'1 month':>8s} {'avm':>7s} {'tiles':>6s}"
    )
    rows = [*result.verified, *(v for vs in result.baselines.values() for v in vs)]
    for v in rows:
        r = v.result
        typer.echo(
            f"{v.label:8s} {r.arch_id:18s} {r.digital_accuracy:8.4f} "
            f"{r.accuracy_at(1.0)[0]:7.4f} {r.accuracy_1d:7.4f} "
            f"{r.accuracy_at(2592000.0)[0]:8.4f} {r.avm:7.4f} {r.cost['tiles']:6d}"
        )


SERVER = typer.Option("http://127.0.0.1:8000", envvar="XBARNAS_SERVER", help="Server URL.")
KEY = typer.Option(None, envvar="XBARNAS_API_KEY", help="API key (XBARNAS_API_KEY).")


def _client(server: str, key: str | None):
    from service.client import Client

    return Client(server, key)


def _call(function, *args):
    from service.client import ApiError

    try:
        return function(*args)
    except ApiError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    except OSError as error:
        typer.echo(f"error: cannot reach the server: {error}", err=True)
        raise typer.Exit(1) from error


@app.command()
def submit(
    file: Path = typer.Option(None, help="Job JSON (default: the digits example job)."),
    wait: bool = typer.Option(False, help="Follow the job until it ends."),
    server: str = SERVER,
    key: str = KEY,
) -> None:
    """Submit a job to a running server; prints its id (and follows it with --wait)."""
    from service.schemas import JobCreate

    body = json.loads(file.read_text()) if file else JobCreate().model_dump(mode="json")
    client = _client(server, key)
    job = _call(client.submit, body)
    typer.echo(job["id"])
    if wait:
        _follow(client, job)


def _follow(client, job: dict) -> dict:
    """Progress bars until the job ends; exit 1 unless it succeeded."""
    import time

    with PhaseBars() as bars:
        while job["status"] in ("queued", "running"):
            time.sleep(1.0)
            job = _call(client.job, job["id"])
            bars(job["phase"], int(job["progress"] * 1000), 1000)
    typer.echo(f"{job['id']}: {job['status']}" + (f" ({job['error']})" if job["error"] else ""))
    if job["status"] != "succeeded":
        raise typer.Exit(1)
    return job


@app.command()
def status(
    job_id: str = typer.Argument(None, help="A job id (default: list the jobs)."),
    server: str = SERVER,
    key: str = KEY,
) -> None:
    """Show a job (with its candidates), or the list of jobs."""
    client = _client(server, key)
    if job_id is None:
        typer.echo(json.dumps(_call(client.jobs), indent=1))
        return
    document = {"job": _call(client.job, job_id), "candidates": _call(client.candidates, job_id)}
    typer.echo(json.dumps(document, indent=1))


@app.command("export")
def export_command(
    architecture_id: str = typer.Argument(..., help="A verified architecture's id."),
    format: str = typer.Option("onnx", help="onnx, torchscript, state_dict, json or analog."),
    out: Path = typer.Option(Path("."), help="Folder to write the file into."),
    server: str = SERVER,
    key: str = KEY,
) -> None:
    """Download a verified architecture from a running server."""
    content, filename = _call(_client(server, key).export, architecture_id, format)
    out.mkdir(parents=True, exist_ok=True)
    (out / filename).write_bytes(content)
    typer.echo(str(out / filename))


OVERRIDE = typer.Option(None, help="Override of the chip's value (see the API's hardware).")


@app.command()
def rescore(
    job_id: str = typer.Argument(..., help="A finished job's id."),
    preset: str = typer.Option(None, help="Device preset: pcm, rram or ideal."),
    tile_rows: int = typer.Option(None, help="Crossbar tile rows."),
    tile_cols: int = typer.Option(None, help="Crossbar tile columns."),
    g_max: float = OVERRIDE,
    dac_bits: int = typer.Option(None, help="DAC bits (0: exact inputs)."),
    adc_bits: int = typer.Option(None, help="ADC bits (0: exact outputs)."),
    input_range: float = typer.Option(None, help="DAC input range (0: calibrated per tile)."),
    out_bound: float = typer.Option(None, help="ADC full scale (0: none, only with 0 ADC bits)."),
    out_noise: float = OVERRIDE,
    prog_noise_scale: float = OVERRIDE,
    read_noise_scale: float = OVERRIDE,
    drift_scale: float = OVERRIDE,
    drift_compensation: bool = typer.Option(None, "--drift-compensation/--no-drift-compensation"),
    column_scaling: bool = typer.Option(None, "--column-scaling/--no-column-scaling"),
    wait: bool = typer.Option(True, help="Follow the rescore job and compare when it ends."),
    tolerance: float = typer.Option(1.0, help="Reprogramming tolerance, accuracy points."),
    server: str = SERVER,
    key: str = KEY,
) -> None:
    """Re-score a finished job's verified candidates on another chip, without retraining: the
    job's chip with the options given changed (e.g. --preset rram --adc-bits 6). Prints the
    rescore job's id, then (with --wait) both chips' figures side by side."""
    from service.schemas import CHIP_OVERRIDES

    given = locals()
    fields = ("preset", "tile_rows", "tile_cols", *CHIP_OVERRIDES)
    changes = {name: given[name] for name in fields if given[name] is not None}
    client = _client(server, key)
    parent = _call(client.job, job_id)
    child = _call(client.rescore, job_id, {**parent["request"]["hardware"], **changes})
    typer.echo(child["id"])
    typer.echo(child["rescore"]["note"])
    if wait:
        _follow(client, child)
        _print_comparison(client, child["rescore"]["parent_id"], child["id"], tolerance)


def _print_comparison(client, parent_id: str, child_id: str, tolerance: float) -> None:
    """Each verified candidate on both chips: 1-day accuracy, reprogramming interval, the most
    sensitive layer."""

    def verified(job_id: str) -> dict[str, dict]:
        path = f"/v1/jobs/{job_id}/candidates?tolerance={tolerance}"
        return {c["architecture_id"]: c for c in _call(client.json, "GET", path) if c["verified"]}

    before, after = verified(parent_id), verified(child_id)
    typer.echo(
        f"\n{'architecture':18s} {'chip':6s} {'1 day':>7s} {'reprogram (mean)':>22s} "
        f"{'(mean - 2 std)':>22s}  most sensitive layer"
    )
    for arch_id, candidate in after.items():
        for chip, c in (("before", before.get(arch_id)), ("after", candidate)):
            if c is None:
                continue
            timing = c["reprogramming"] or {}
            sensitivity = c["sensitivity"]
            layer = "-"
            if sensitivity:
                top = max(sensitivity["layers"], key=lambda x: x["only_exact_gain"])
                layer = f"{top['name']} (+{100 * top['only_exact_gain']:.1f} pts exact)"
            typer.echo(
                f"{arch_id:18s} {chip:6s} {c['accuracy_1d']:7.4f} "
                f"{timing.get('mean', {}).get('label', '-'):>22s} "
                f"{timing.get('lower_band', {}).get('label', '-'):>22s}  {layer}"
            )


@app.command()
def replay(
    architecture_id: str = typer.Argument(..., help="A verified architecture's id."),
    job: str = typer.Option(None, help="The job of the verification (default: the newest)."),
    record: Path = typer.Option(
        None, help="Replay this record (the JSON of GET .../record) instead of the server's."
    ),
    data: Path = typer.Option(None, help="The .npz of an uploaded data set's task."),
    server: str = SERVER,
    key: str = KEY,
) -> None:
    """Recompute a verified candidate's figures from its record, on this machine: train the
    network again with the recorded budget and seeds on the same data (checked by checksum),
    measure it on the recorded chip, and compare with the stored figures (agreement: within
    their Monte Carlo standard error). Exit 1 when they disagree."""
    from search.replay import ReplayRefused
    from search.replay import replay as replay_figures
    from search.tasks import NPZ_PREFIX, TaskError, load_task

    if record is not None:
        document = json.loads(record.read_text())
    else:
        document = _call(_client(server, key).record, architecture_id, job)
    if document["architecture_id"] != architecture_id:
        raise typer.BadParameter(f"record: it is of architecture {document['architecture_id']}")
    name = document["record"]["task"]
    try:
        task = load_task(NPZ_PREFIX + str(data) if data else name)
    except TaskError as error:
        raise typer.BadParameter(f"{error} (an uploaded data set's task needs --data)") from error
    try:
        result = replay_figures(document["record"], document["figures"], task)
    except ReplayRefused as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    for difference in result.differences:
        typer.echo(f"note: {difference}")
    typer.echo(f"{'time (s)':>10s} {'stored':>8s} {'replayed':>8s} {'diff':>8s} {'MC s.e.':>8s}")
    for f in result.figures:
        typer.echo(
            f"{f.time_seconds:10.0f} {f.stored_mean:8.4f} {f.replayed_mean:8.4f} "
            f"{f.difference:+8.4f} {f.standard_error:8.4f}  {'agrees' if f.agrees else 'DIFFERS'}"
        )
    typer.echo(
        f"digital {result.stored_digital:.4f} -> {result.replayed_digital:.4f}; "
        f"{'agrees' if result.agrees else 'DIFFERS'} ({result.seconds:.1f} s)"
    )
    if not result.agrees:
        raise typer.Exit(1)
