"""The `textrnn` command: a thin typer layer over the library. Imports no torch at start-up."""

from __future__ import annotations

import typer

from textrnn import __version__
from textrnn.cli import bench, check, evaluate, export, inspect, models, predict, pretrain, report, serve, train, tune
from textrnn.cli.core import Command, Group

app = typer.Typer(
    name="textrnn",
    cls=Group,
    help="Train recurrent text classifiers, export them to ONNX, and serve them fast.\n\n"
         "\b\nQuick start:\n  textrnn train data/sample.csv\n  textrnn predict \"some text\"",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,  # plain help: fits 80 columns without cutting option names
)
app.command("train", cls=Command, short_help="Train a classifier on labelled data; export ONNX.")(train.train_cmd)
app.command("check", cls=Command, short_help="Find problems in labelled data: duplicates, leaks, label errors.")(
    check.check_cmd)
app.command("tune", cls=Command, short_help="Search the recipe within a time budget.")(tune.tune_cmd)
app.command("pretrain", cls=Command, short_help="Pretrain an encoder on unlabelled text.")(pretrain.pretrain_cmd)
app.command("predict", cls=Command, short_help="Classify texts (ONNX Runtime, no torch).")(predict.predict_cmd)
app.command("evaluate", cls=Command, short_help="Score a model on a labelled file.")(evaluate.evaluate_cmd)
app.command("report", cls=Command, short_help="The model card, curves, scores; --compare models.")(report.report_cmd)
app.command("models", cls=Command, short_help="List trained models; * marks the default.")(models.models_cmd)
app.command("inspect", cls=Command, short_help="Read one text token by token.")(inspect.inspect_cmd)
app.command("export", cls=Command, short_help="Re-export ONNX, or add an int8 model.")(export.export_cmd)
app.command("bench", cls=Command, short_help="Latency and throughput: PyTorch vs ONNX.")(bench.bench_cmd)
app.command("serve", cls=Command, short_help="Serve models over HTTP (KServe V2, /predict, /metrics).")(serve.serve_cmd)


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
