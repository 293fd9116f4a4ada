"""`tuskflow db migrate`: the event store's schema."""

import typer

from tuskflow.config import Settings

app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command("migrate")
def migrate_command(ctx: typer.Context) -> None:
    """Apply every schema migration not yet applied (safe to run from many processes)."""
    from tuskflow.eventstore.postgres.migrate import available, migrate

    settings: Settings = ctx.obj
    # Each migration applied is logged once, as it is applied; this line only sums them up.
    applied = migrate(settings.required("database_url"))
    latest = available()[-1]
    change = f"{len(applied)} applied" if applied else "no change"
    typer.echo(f"schema at {latest.version:04d}_{latest.name} ({change})")
