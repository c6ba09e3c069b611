"""The layering rule README.md's code map states, checked on the imports themselves (parsed with ast, so
an import inside a function counts; one under `if TYPE_CHECKING:` does not, as it never runs).

1. Stages come in layers; a module imports only its own layer and those below it:
     base (errors, schema, text, options, config, interrupts)
     < data (data/, tokenizer, checks/) < measures (evaluation/, tasks/) < model/ [torch] < folder/
     < inference/, batch/ < export/, training/ [torch] < views/ < serving/ < command line (cli/, entry).
   textrnn/__init__.py (the library API: functions that import their stage when called) is the top;
   its __version__ may be read from anywhere.
2. The prediction path (inference/, batch/, serving/, views/, entry.py, options.py) never imports torch
   nor a [torch] stage (model/, training/, export/), not even inside a function.
3. Only the command line (cli/, entry.py) imports typer or cli/.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "textrnn"
LAYERS = (
    {"errors", "schema", "text", "options", "config", "interrupts"},
    {"data", "tokenizer", "checks"},
    {"evaluation", "tasks"},
    {"model"},
    {"folder"},
    {"inference", "batch"},
    {"export", "training"},
    {"views"},
    {"serving"},
    {"cli", "entry", "__main__"},
)
LAYER = {stage: n for n, stages in enumerate(LAYERS) for stage in stages}
PREDICTION_PATH = {"inference", "batch", "serving", "views", "entry", "options"}
TORCH_STAGES = {"model", "training", "export"}


def modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in PACKAGE.rglob("*.py")}


def stage(module: str) -> str:
    """textrnn.inference.predict -> inference; textrnn.config -> config; textrnn -> textrnn."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _runtime_nodes(tree: ast.AST):
    """Every node but those under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The modules a file imports at run time: textrnn modules by name (`from textrnn import interrupts`
    is textrnn.interrupts; `from textrnn import __version__` is textrnn), others by top-level name."""
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name if a.name.startswith("textrnn") else a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("textrnn"):
                found.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                             for a in node.names)
            else:
                found.add(node.module.split(".")[0])
    return found


def test_the_layers_hold():
    known = modules()
    wrong = []
    for name, path in known.items():
        if name == "textrnn":
            continue  # the library API: above every stage
        for target in imports(path, known):
            if target == "textrnn" or not target.startswith("textrnn"):
                continue
            if LAYER[stage(target)] > LAYER[stage(name)]:
                wrong.append(f"{name} imports {target}")
    assert not wrong, "a stage imports a layer above it:\n" + "\n".join(sorted(wrong))


def test_the_prediction_path_never_imports_torch():
    known = modules()
    wrong = [f"{name} imports {target}" for name, path in known.items() if stage(name) in PREDICTION_PATH
             for target in imports(path, known)
             if target == "torch" or target.startswith("textrnn") and stage(target) in TORCH_STAGES]
    assert not wrong, "\n".join(sorted(wrong))


def test_only_the_command_line_imports_typer():
    known = modules()
    wrong = [f"{name} imports {target}" for name, path in known.items() if stage(name) not in ("cli", "entry")
             for target in imports(path, known) if target == "typer" or target.startswith("textrnn.cli")]
    assert not wrong, "\n".join(sorted(wrong))


def test_every_stage_has_a_layer():
    assert {stage(name) for name in modules()} - {"textrnn"} <= set(LAYER)


def test_the_check_sees_imports_inside_functions_but_not_type_checking(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n"
                      "def f():\n    from textrnn.training import job\n    import numpy.linalg\n")
    assert imports(source, {"textrnn.training.job": source}) == {"typing", "textrnn.training.job", "numpy"}
