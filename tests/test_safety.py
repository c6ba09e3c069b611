"""Never lose a user's file, never show a traceback: a matrix of bad data, texts, model folders,
flags, faults and concurrent runs. Every case asserts the exit code, exactly one `error:` line with
the expected message, and that nothing saved was touched (model folders, DEFAULT and the user's own
folders byte-identical)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import ROWS, TINY, metadata, write_csv
from textrnn.cli import app
from textrnn.folder import saving, store

runner = CliRunner()


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every file and folder under `roots`: kind, bytes, permissions."""
    seen = {}
    for root in roots:
        for path in sorted([root, *root.rglob("*")]) if root.exists() else []:
            data = path.read_bytes() if path.is_file() else None
            seen[str(path)] = (path.is_dir(), data, path.stat().st_mode)
    return seen


@pytest.fixture
def world(tmp_path, models_root, trained_model):
    """A models folder with a saved model that is the default, and a folder of the user's own."""
    shutil.copytree(trained_model, models_root / "keep")
    store.set_default(models_root / "keep")
    user = tmp_path / "user"
    (user / "sub").mkdir(parents=True)
    (user / "notes.txt").write_text("my notes\n")
    (user / "sub" / "thesis.tex").write_text("\\documentclass{article}\n")
    data = tmp_path / "data"
    data.mkdir()
    write_csv(data / "ok.csv", ROWS * 2)
    return {"tmp": tmp_path, "models": models_root, "user": user, "data": data, "model": models_root / "keep"}


def _broken_model(w: dict, damage: Callable[[Path], None]) -> Path:
    path = w["tmp"] / "broken"
    shutil.copytree(w["model"], path)
    damage(path)
    return path


def _meta(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        meta = json.loads((folder / store.METADATA_FILE).read_text())
        change(meta)
        (folder / store.METADATA_FILE).write_text(json.dumps(meta))
    return damage


def _other_tokenizer(folder: Path) -> None:
    from textrnn.config import TokenizerConfig
    from textrnn.tokenizer import train_tokenizer

    texts = [f"word{i} other{i}" for i in range(300)]
    train_tokenizer(texts, TokenizerConfig(min_frequency=1)).save(str(folder / store.TOKENIZER_FILE))


def _foreign_onnx(folder: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])
    graph = helper.make_graph([helper.make_node("Identity", ["features"], ["logits"])], "foreign", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), folder / store.ONNX_FILE)


def _write(name: str, content: bytes | str) -> Callable[[dict], Path]:
    def make(w: dict) -> Path:
        path = w["data"] / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path
    return make


@dataclass
class Case:
    args: list[str]  # {tmp}, {data}, {user}, {models}, {model}, {made} are filled in
    code: int
    message: str
    make: Callable[[dict], Path] | None = None  # builds {made}
    env: dict[str, str] = field(default_factory=dict)


CASES = {
    # data files
    "missing file": Case(["train", "{data}/missing.csv"], 1, "does not exist"),
    "header only": Case(["train", "{made}"], 1, "no data rows", _write("e.csv", "text,label\n")),
    "latin-1": Case(["train", "{made}"], 1, "not UTF-8", _write("l.csv", "text,label\ncaf\xe9,x\n".encode("latin-1"))),
    "binary garbage": Case(["train", "{made}"], 1, "not UTF-8", _write("g.csv", bytes(range(256)) * 4)),
    "no label column": Case(["train", "{made}"], 1, "no label column", _write("n.csv", "text,stars\na,b\n")),
    "one class": Case(["train", "{made}"], 1, "single class", _write("o.csv", "text,label\na,x\nb,x\n")),
    "empty text": Case(["train", "{made}"], 1, "line 3: empty text", _write("t.csv", "text,label\na,x\n ,y\n")),
    "duplicate label column": Case(["train", "{made}"], 1, "2 columns named 'label'",
                                   _write("d.csv", "text,label,label\na,x,y\nb,y,x\n")),
    "tab inside a TSV text": Case(["train", "{made}"], 1, "line 3 has 3 fields but the header has 2",
                                  _write("t.tsv", "text\tlabel\nfine\tx\nbad\ttext\ty\n")),
    "comma outside quotes": Case(["train", "{made}"], 1, "line 2 has 3 fields",
                                 _write("c.csv", "text,label\nhello, world,x\n")),
    "unknown file type": Case(["train", "{made}"], 1, "unknown file type", _write("x.xlsx", "PK")),
    "bad JSON line": Case(["train", "{made}"], 1, "line 2 is not valid JSON",
                          _write("j.jsonl", '{"text": "a", "label": "x"}\n{"text": \n')),
    "JSON line not an object": Case(["train", "{made}"], 1, "line 1 is not a JSON object", _write("a.jsonl", "[1, 2]\n")),
    "JSON label an object": Case(["train", "{made}"], 1, "must be a string",
                                 _write("o.jsonl", '{"text": "a", "label": {"x": 1}}\n')),
    "label with control characters": Case(["train", "{made}"], 1, "control characters",
                                          _write("cc.csv", "text,label\na,\x1b[31mx\nb,y\n")),
    "a folder as data": Case(["train", "{user}.csv"], 1, "does not exist"),
    "validation labels unknown": Case(["train", "{data}/ok.csv", "--val", "{made}", "--epochs", "1"], 1,
                                      "labels not in the training", _write("v.csv", "text,label\na,surprise\n")),
    # texts
    "empty text argument": Case(["predict", " "], 1, "text 1 is empty"),
    "text starting with a dash": Case(["predict", "-5 stars, awful delivery"], 2, "goes after --"),
    "predict file missing": Case(["predict", "--file", "{data}/none.txt"], 1, "does not exist"),
    "predict file latin-1": Case(["predict", "--file", "{made}"], 1, "not UTF-8",
                                 _write("p.txt", "caf\xe9\n".encode("latin-1"))),
    "predict file blank": Case(["predict", "--file", "{made}"], 1, "no non-blank lines", _write("b.txt", "\n \n")),
    "json and csv": Case(["predict", "--json", "--csv", "x"], 1, "choose one of --json and --csv"),
    "inspect blank": Case(["inspect", "   "], 1, "no text to inspect"),
    # model folders
    "model folder missing": Case(["predict", "--model", "{tmp}/nowhere", "x"], 1, "does not exist"),
    "model.onnx missing": Case(["predict", "--model", "{made}", "x"], 1, "missing model.onnx",
                               lambda w: _broken_model(w, lambda d: (d / store.ONNX_FILE).unlink())),
    "model.onnx garbage": Case(["predict", "--model", "{made}", "x"], 1, "not an ONNX model",
                               lambda w: _broken_model(w, lambda d: (d / store.ONNX_FILE).write_bytes(b"\x00junk"))),
    "ONNX of another kind": Case(["predict", "--model", "{made}", "x"], 1, "is not a textrnn classifier",
                                 lambda w: _broken_model(w, _foreign_onnx)),
    "tokenizer of another model": Case(["predict", "--model", "{made}", "x"], 1, "come from different models",
                                       lambda w: _broken_model(w, _other_tokenizer)),
    "metadata truncated": Case(["predict", "--model", "{made}", "x"], 1, "corrupt",
                               lambda w: _broken_model(w, lambda d: (d / store.METADATA_FILE).write_text("{"))),
    "labels null": Case(["predict", "--model", "{made}", "x"], 1, "labels must be a list",
                        lambda w: _broken_model(w, _meta(lambda m: m["task"].update(labels=None)))),
    "format version a string": Case(["report", "--model", "{made}"], 1, "format_version must be a whole number",
                                    lambda w: _broken_model(w, _meta(lambda m: m.update(format_version="1")))),
    "format version from the future": Case(["predict", "--model", "{made}", "x"], 1, "upgrade textrnn",
                                           lambda w: _broken_model(w, _meta(lambda m: m.update(format_version=99)))),
    "config not an object": Case(["report", "--model", "{made}"], 1, "'config' must be an object",
                                 lambda w: _broken_model(w, _meta(lambda m: m.update(config=[1])))),
    "DEFAULT garbage": Case(["predict", "x"], 1, "DEFAULT",
                            lambda w: (w["models"] / store.DEFAULT_POINTER).write_bytes(bytes(range(1, 200)))),
    "models folder is a file": Case(["predict", "x"], 1, "is a file, not a folder", env={"TEXTRNN_MODELS": "{data}/ok.csv"}),
    # flags
    "unknown cell": Case(["train", "{data}/ok.csv", "--cell", "transformer"], 1, "Invalid value for '--cell'"),
    "top-k 0": Case(["predict", "--top-k", "0", "x"], 1, "--top-k"),
    "missing data argument": Case(["train"], 2, "Missing argument"),
    "unknown option": Case(["train", "{data}/ok.csv", "--hiden-size", "3"], 2, "No such option"),
    "ema out of range": Case(["train", "{data}/ok.csv", "--ema", "1"], 1, "ema must be in [0, 1)"),
    "no members": Case(["train", "{data}/ok.csv", "--members", "0"], 1, "members must be between 1 and 16"),
    "validation split too large": Case(["train", "{data}/ok.csv", "--val-split", "0.95"], 1, "val_split"),
    "relu on an LSTM": Case(["train", "{data}/ok.csv", "--activation", "relu"], 1, "applies only to --cell rnn"),
    "max-drop without int8": Case(["export", "--max-drop", "1"], 1, "apply only with --int8"),
    "compare one model": Case(["report", "--compare", "{model}"], 1, "needs at least two"),
    "diverging learning rate": Case(["train", "{data}/ok.csv", *TINY, "--lr", "1e30", "--out", "{tmp}/nan"], 1,
                                    "training diverged"),
    # where models go
    "out exists": Case(["train", "{data}/ok.csv", "--epochs", "1", "--out", "{user}"], 1, "already exists"),
    "out exists by another path": Case(["train", "{data}/ok.csv", "--epochs", "1", "--out", "{tmp}/nonexistent/../user"],
                                       1, "already exists"),
    "force on a user folder": Case(["train", "{data}/ok.csv", "--epochs", "1", "--out", "{user}", "--force"], 1,
                                   "holds files textrnn did not write (notes.txt, sub)"),
    "force on the models folder's parent": Case(["train", "{data}/ok.csv", "--epochs", "1", "--out", "{tmp}",
                                                 "--force"], 1, "replaces model folders only"),
    "force on the models folder": Case(["train", "{data}/ok.csv", "--epochs", "1", "--out", "{models}", "--force"], 1,
                                       "replaces model folders only"),
    "out under a file": Case(["train", "{data}/ok.csv", "--epochs", "1", "--out", "{data}/ok.csv/model"], 1,
                             "is a file, not a folder"),
    "out is a file, forced": Case(["train", "{data}/ok.csv", "--epochs", "1", "--out", "{data}/ok.csv", "--force"], 1,
                                  "not a folder"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clear_line_and_nothing_saved_is_touched(world, name, monkeypatch):
    case = CASES[name]
    made = case.make(world) if case.make else None
    values = {k: str(v) for k, v in world.items()} | {"made": str(made)}
    for key, value in case.env.items():
        monkeypatch.setenv(key, value.format(**values))
    before = snapshot(world["models"], world["user"], world["data"], world["tmp"] / "broken")
    result = runner.invoke(app, [a.format(**values) for a in case.args])
    assert result.exit_code == case.code, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and case.message in errors[0], result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert snapshot(world["models"], world["user"], world["data"], world["tmp"] / "broken") == before
    assert not (world["tmp"] / "nonexistent").exists() and not (world["tmp"] / "nan").exists()
    assert not [p for p in world["models"].iterdir() if saving.STAGING.match(p.name)]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_parent_of_out(world):
    ro = world["tmp"] / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        result = runner.invoke(app, ["train", str(world["data"] / "ok.csv"), "--out", str(ro / "m")])
    finally:
        ro.chmod(0o755)
    assert result.exit_code == 1 and "no permission to write" in result.output


def test_force_replaces_a_model_folder_and_keeps_everything_else(world):
    target = world["tmp"] / "replace-me"
    shutil.copytree(world["model"], target)
    old = (target / store.ONNX_FILE).read_bytes()
    user = snapshot(world["user"])
    result = runner.invoke(app, ["train", str(world["data"] / "ok.csv"), *TINY, "--seed", "5",
                                 "--out", str(target), "--force"])
    assert result.exit_code == 0, result.output
    assert (target / store.ONNX_FILE).read_bytes() != old and metadata(target).settings.train.seed == 5
    assert snapshot(world["user"]) == user
    assert not [p for p in target.parent.iterdir() if saving.STAGING.match(p.name)]
    assert not (target / store.LOCK_FILE).exists()


def test_a_tiny_vocabulary_trains_and_exports(tmp_path):
    data = write_csv(tmp_path / "tiny.csv", [("yes", "a"), ("no", "b")] * 8)  # 4 tokens with [PAD], [UNK]
    result = runner.invoke(app, ["train", str(data), *TINY, "--val", str(data), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert metadata(tmp_path / "m").tokenizer.vocab_size < 9


def test_model_files_get_the_users_permissions(tmp_path, trained_model):
    old = os.umask(0o022)
    try:
        with saving.staging(tmp_path / "m") as staged:
            (staged.path / "file").write_text("x")
            store.write_json(staged.path / store.METADATA_FILE, {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "m" / store.METADATA_FILE).stat().st_mode & 0o777 == 0o644
    assert oct(trained_model.stat().st_mode & 0o777) == "0o755"  # trained through the CLI


def test_a_name_taken_while_training_gets_a_suffix_and_nothing_is_replaced(tmp_path):
    target = tmp_path / "m"
    with saving.staging(target) as first:
        (first.path / "model.onnx").write_text("first")
        with saving.staging(target) as second:  # a second run with the same --out, finishing first
            (second.path / "model.onnx").write_text("second")
        assert second.final == target and not second.renamed
    assert first.final == tmp_path / "m-2" and first.renamed
    assert (target / "model.onnx").read_text() == "second" and (tmp_path / "m-2" / "model.onnx").read_text() == "first"


def test_a_user_folder_made_while_training_is_kept(tmp_path):
    target = tmp_path / "v"
    with saving.staging(target, overwrite=True) as staged:
        target.mkdir()
        (target / "notes.txt").write_text("mine")  # appears while training: not a model folder
    assert (target / "notes.txt").read_text() == "mine" and staged.final == tmp_path / "v-2"


def test_two_trainings_with_the_same_out_keep_both_models(world):
    data, out = world["data"] / "ok.csv", world["tmp"] / "same"
    cmd = [sys.executable, "-m", "textrnn", "train", str(data), *TINY, "--out", str(out)]
    cmd[cmd.index("3")] = "40"  # long enough (seconds) for the two runs to overlap
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    saved = sorted(p.name for p in world["tmp"].iterdir() if p.name.startswith("same"))
    if saved == ["same"]:  # the second one started after the first had finished: told at once
        pytest.fail(f"one model lost: {outputs}")
    assert saved == ["same", "same-2"]
    assert sum("saved as" in err for _, err in outputs) == 1  # the one that got the suffix says so


def _staging_with_lock(parent: Path, name: str, hold: bool) -> tuple[Path, int | None]:
    import fcntl

    folder = parent / f".{name}.partial-abcd1234"
    folder.mkdir(parents=True)
    (folder / store.WEIGHTS_FILE).write_bytes(b"x" * 1000)
    fd = os.open(folder / store.LOCK_FILE, os.O_RDWR | os.O_CREAT)
    if hold:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return folder, fd
    os.close(fd)
    return folder, None


def test_stale_staging_is_removed_but_a_running_one_is_kept(world):
    dead, _ = _staging_with_lock(world["models"], "dead", hold=False)
    alive, fd = _staging_with_lock(world["models"], "alive", hold=True)
    old = world["models"] / ".legacy.partial-zzzz9999"  # from a textrnn without locks
    old.mkdir()
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    try:
        listed = runner.invoke(app, ["models"])
        assert "2 staging folder(s) left by killed trainings" in listed.output
        result = runner.invoke(app, ["train", str(world["data"] / "ok.csv"), *TINY])
        assert result.exit_code == 0, result.output
        assert "removed 2 staging folder(s)" in result.output
        assert not dead.exists() and not old.exists() and alive.exists()
    finally:
        os.close(fd)


def test_the_table_shows_control_characters_escaped(trained_model):
    result = runner.invoke(app, ["predict", "--model", str(trained_model), "evil \x1b[2J\x1b]0;pwned\x07 text"])
    assert result.exit_code == 0 and "\x1b" not in result.stdout and "\\x1b[2J" in result.stdout


def test_a_text_starting_with_a_dash_after_double_dash(trained_model):
    result = runner.invoke(app, ["predict", "--model", str(trained_model), "--json", "--", "-5 stars, awful delivery"])
    assert result.exit_code == 0 and json.loads(result.stdout)["text"] == "-5 stars, awful delivery"
