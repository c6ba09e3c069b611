"""`textrnn models`: a table of the trained models in the models folder. Imports no torch."""

from __future__ import annotations

from textrnn.cli.core import err, handle_errors, out, terminal_width
from textrnn.cli.options import JsonOption


@handle_errors
def models_cmd(as_json: JsonOption = False) -> None:
    """List trained models: name, date, cell, size, validation and test score; * marks the default.

    The models folder is $TEXTRNN_MODELS, else ./models.

    \b
    Examples:
      textrnn models
      textrnn models --json
    """
    import json

    from textrnn.errors import TextrnnError
    from textrnn.folder import ModelFolder, saving, store
    from textrnn.views.models import models_data, models_table

    folders = []
    for path in store.list_models():
        try:
            folders.append(ModelFolder.open(path))
        except TextrnnError:  # one broken folder must not hide the others
            folders.append(path)
    if as_json:
        out.print_json(json.dumps(models_data(folders)))
        return
    if not folders:
        out.print(f"No trained models in {store.models_root()}; run `textrnn train DATA` first.")
        return
    out.print(models_table(folders, width=terminal_width()))
    stale = saving.stale_staging(store.models_root())
    if stale:
        size = sum(saving.tree_bytes(p) for p in stale) / 2**20
        err.print(f"[dim]{len(stale)} staging folder(s) left by killed trainings in {store.models_root()} "
                  f"({size:.1f} MB); the next `textrnn train` removes them[/]", soft_wrap=True)
