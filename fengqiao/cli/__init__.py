"""The ``fengqiao`` command line. Each feature registers its commands from its own module."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
from pathlib import Path

import typer
from rich.console import Console

from fengqiao import kafkasteps
from fengqiao.settings import Settings
from schemas.errors import FengqiaoError

# Every ``fengqiao/cli/*_cmd.py`` module registers its commands with ``register(app)``.
COMMAND_MODULES = sorted(
    f"fengqiao.cli.{m.name}"
    for m in pkgutil.iter_modules([str(Path(__file__).parent)])
    if m.name.endswith("_cmd")
)

app = typer.Typer(
    name="fengqiao",
    help="Fengqiao (枫桥): dispute intake, routing, group incidents, risk and SLA on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)
_settings: Settings | None = None


def settings() -> Settings:
    """The process's one Settings object, built on first use from the environment."""
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings


PIPED_WIDTH = 200  # piped or captured, a terminal's width is unknown: tables are written whole


def output_console(stderr: bool = False) -> Console:
    """A console for a table or a report: the terminal's width on a terminal, else
    ``PIPED_WIDTH``, so a piped or captured table is not cut at rich's default 80 columns.
    Built when called: the module's ``console`` took its width when the CLI was imported."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPED_WIDTH)


def fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@app.callback()
def _before_any_command(ctx: typer.Context) -> None:
    # wrong Kafka credentials end a component with one sentence, before its clients retry
    from fengqiao.kafkacheck import KAFKA_COMMANDS, check_credentials

    if ctx.invoked_subcommand in KAFKA_COMMANDS:
        check_credentials(settings())


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not settings().log_libraries:  # library chatter off unless debugging
        for noisy in ("kafka", "aiokafka", "faust", "mode", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    kafkasteps.install()  # a full fetch parsed is not a stall: see the module
    try:
        app()
    except FengqiaoError as err:
        console.print(f"[bold red]error:[/] {err}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
