"""The `textrnn` command: a thin typer layer over the library. Imports no torch at start-up."""

from __future__ import annotations

import typer

from textrnn import __version__
from textrnn.cli import bench, evaluate, export, inspect_text, models, predict, report, train

app = typer.Typer(
    name="textrnn",
    help="Train recurrent text classifiers, export them to ONNX, and serve them fast.\n\n"
         "Quick start:  textrnn train data/sample.csv  then  textrnn predict \"some text\"",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode="rich",
)
app.command("train")(train.train_cmd)
app.command("predict")(predict.predict_cmd)
app.command("evaluate")(evaluate.evaluate_cmd)
app.command("report")(report.report_cmd)
app.command("models")(models.models_cmd)
app.command("inspect")(inspect_text.inspect_cmd)
app.command("export")(export.export_cmd)
app.command("bench")(bench.bench_cmd)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"textrnn {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    pass


def main() -> None:
    app()
