"""`textrnn predict TEXT...`: classify texts with ONNX Runtime (no torch import). Its options are
declared once, as the fields of PredictRequest (textrnn.inference.predict) and, for --engine ray,
TableRequest (textrnn.batch.tables); textrnn.views.predictions writes the answer, as the fast entry
point (textrnn.entry) does."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from textrnn.batch.tables import TableRequest
from textrnn.cli.core import err, handle_errors
from textrnn.cli.options import settings_of, with_settings
from textrnn.errors import DataError
from textrnn.inference.request import PredictRequest
from textrnn.options import Engine


@handle_errors
# the order of --help: --json and --csv after --min-labels; the Ray options (--engine first) before the
# explanations; --text-column last
@with_settings((PredictRequest, ("file", "model", "top_k", "threshold", "min_labels")), "as_json", "as_csv", "engine",
               (TableRequest, ("out", "address", "workers", "force")), PredictRequest, TableRequest)
def predict_cmd(
    texts: Annotated[Optional[list[str]], typer.Argument(metavar="TEXT", help="Texts to classify; '-' reads one text per line from stdin.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per line, for scripts.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (text,label,probability), for scripts.")] = False,
    engine: Annotated[Engine, typer.Option(help="local: this process. ray: Ray Data (pip install 'textrnn[ray]'), for --file a Parquet, CSV, JSON Lines or text file, into --out.", rich_help_panel="Distributed")] = Engine.local,
    **settings: Any,
) -> None:
    """Predict labels for texts with the default (or --model) ONNX model.

    \b
    Examples:
      textrnn predict "great film" "dull plot" --top-k 2
      textrnn predict --file big.txt --csv > labels.csv
      cat texts.txt | textrnn predict - --json
      textrnn predict -- "-5 stars, awful delivery"   (a text that starts with '-')
      textrnn predict "great acting, dull plot" --explain
      textrnn predict --file texts.txt --explain --json --label negative
      textrnn predict --engine ray --file texts.parquet --out predictions.parquet
    """
    from textrnn.views.predictions import run_predict

    if as_json and as_csv:
        raise DataError("choose one of --json and --csv")
    ray = engine == Engine.ray or settings["out"] is not None
    if settings["explain"] and ray:
        raise DataError("--explain runs here (--engine local), to stdout: leave out --engine ray and --out")
    if ray:
        _predict_table(texts, engine, settings)
        return
    request = PredictRequest(texts=tuple(texts or ()), format="json" if as_json else "csv" if as_csv else "table",
                             **settings_of(PredictRequest, settings))
    run_predict(request, notice=lambda line: err.print(f"[dim]{line}[/]"))


def _predict_table(texts: list[str] | None, engine: Engine, settings: dict[str, Any]) -> None:
    """`predict --engine ray --file TABLE --out FILE`: see textrnn.batch.tables."""
    from textrnn.batch.tables import predict_table

    file, out = settings["file"], settings["out"]
    if engine != Engine.ray:
        raise DataError("--out writes a table with --engine ray; without it, predictions go to stdout")
    if texts or file is None or out is None or file == "-":
        raise DataError("--engine ray classifies a file: pass --file TABLE and --out FILE (no TEXT arguments)")
    device = settings["device"]
    result = predict_table(TableRequest(**{
        **settings_of(TableRequest, settings),
        "top_k": settings["top_k"] or 1,  # a table has a column pair per label: one unless told
        "device": "cpu" if device == "auto" else device.value, "precision": settings["precision"].value}))
    count = f"{result.rows:,} predictions" if result.rows is not None else "predictions"
    speed = f"{result.rate:,.0f} texts/s, " if result.rate is not None else ""
    err.print(f"wrote {count} to {result.out} in {result.seconds:.1f}s ({speed}Ray Data, {result.workers} workers)",
              soft_wrap=True)
