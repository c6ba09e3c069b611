"""`textrnn models`: a table of the trained models in the models folder. Imports no torch."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from textrnn.cli._util import err, handle_errors, out, terminal_width


@handle_errors
def models_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List trained models: name, date, cell, size, validation and test accuracy; * marks the default.

    The models folder is $TEXTRNN_MODELS, else ./models.
    \b
    Examples:
      textrnn models
    """
    from textrnn import store
    from textrnn.report import models_table

    rows = []
    for path in store.list_models():
        try:
            meta = store.read_metadata(path)
        except Exception:  # noqa: BLE001 - one broken folder must not hide the others
            meta = {"name": path.name}
        rows.append((path, meta, store.folder_bytes(path), store.is_default(path)))
    if as_json:
        out.print_json(json.dumps([{"name": p.name, "path": str(p), "created": meta.get("created"),
                                    "cell": (meta.get("config") or {}).get("model", {}).get("cell"),
                                    "params": meta.get("params"), "size_bytes": size, "default": default,
                                    "val_accuracy": meta.get("metrics", {}).get("val", {}).get("accuracy"),
                                    "test_accuracy": meta.get("metrics", {}).get("test", {}).get("accuracy")}
                                   for p, meta, size, default in rows]))
        return
    if not rows:
        out.print(f"No trained models in {store.models_root()}; run `textrnn train DATA` first.")
        return
    out.print(models_table(rows, width=terminal_width()))
    stale = store.stale_staging(store.models_root())
    if stale:
        size = sum(store.tree_bytes(p) for p in stale) / 2**20
        err.print(f"[dim]{len(stale)} staging folder(s) left by killed trainings in {store.models_root()} "
                  f"({size:.1f} MB); the next `textrnn train` removes them[/]", soft_wrap=True)
