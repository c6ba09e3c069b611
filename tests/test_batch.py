"""Batch prediction for distributed engines: the picklable BatchPredictor (no extras needed), Ray Data
(`textrnn[ray]`) and Spark's mapInPandas (pyspark), each skipped cleanly when its package is absent."""

from __future__ import annotations

import csv
import io
import json
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROWS
from textrnn.batch.predictor import BatchPredictor, PackedModel, prediction_columns
from textrnn.inference.predictor import Predictor

WORDS = sorted({w for text, _ in ROWS for w in text.split()})


def synthetic_texts(n: int, seed: int = 0) -> list[str]:
    """n texts of 2 to 14 words from the fixtures' vocabulary (plus a word it never saw)."""
    rng = np.random.default_rng(seed)
    vocab = np.array([*WORDS, "zyzzyva"])
    return [" ".join(vocab[rng.integers(0, len(vocab), size=rng.integers(2, 15))]) for _ in range(n)]


def test_batch_predictor_pickles_without_a_session_and_predicts_like_the_predictor(trained_model, tmp_path):
    texts = synthetic_texts(300)
    predictor = BatchPredictor(trained_model, text_column="body", top_k=2)
    expected = Predictor(trained_model, device="cpu").predict(texts, top_k=2)
    out = predictor({"id": np.arange(300), "body": np.array(texts, dtype=object)})  # Ray's numpy batches
    assert list(out) == ["id", "body", *prediction_columns(2)] == ["id", "body", "label", "probability", "label_2",
                                                                   "probability_2"]
    assert out["label"].tolist() == [p.label for p in expected]
    np.testing.assert_allclose(out["probability_2"], [p.top[1][1] for p in expected], rtol=0, atol=1e-6)
    # what travels to the workers: the model's files, never an ONNX Runtime session
    shipped = pickle.loads(pickle.dumps(predictor))
    assert set(vars(shipped)) == {"packed", "text_column", "top_k", "device", "precision", "threads", "batch_size"}
    assert shipped.packed.digest == predictor.packed.digest
    assert {name for name, _ in shipped.packed.files} == {"metadata.json", "tokenizer.json", "model.onnx"}
    moved = tmp_path / "elsewhere"  # a worker that cannot see the model folder
    shutil.copytree(trained_model, moved)
    packed = PackedModel.from_folder(moved)
    shutil.rmtree(moved)
    again = BatchPredictor(packed)({"text": np.array(texts[:5], dtype=object)})
    assert again["label"].tolist() == out["label"][:5].tolist()


def test_batch_predictor_keeps_a_label_column_and_skips_blank_texts(trained_model):
    out = BatchPredictor(trained_model)({"text": np.array(["a fine film", "  ", None], dtype=object),
                                         "label": np.array(["pos", "neg", "pos"], dtype=object)})
    assert out["label"].tolist() == ["pos", "neg", "pos"]  # the input's own, kept
    assert out["predicted_label"][0] is not None and out["predicted_label"][1:].tolist() == [None, None]
    assert np.isnan(out["predicted_probability"][1:]).all()


def test_batch_predictor_names_a_missing_text_column(trained_model):
    from textrnn.errors import DataError

    with pytest.raises(DataError, match="no 'text' column .*found: body"):
        BatchPredictor(trained_model)({"body": np.array(["a fine film"], dtype=object)})


# ---------------------------------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray instance with 2 CPUs for the actors (and the spare slot textrnn starts it with)."""
    pytest.importorskip("ray.data", reason="needs Ray Data: pip install 'textrnn[ray]'")
    from textrnn.batch.tables import start_ray

    ray = start_ray(workers=2)
    yield ray
    ray.shutdown()


@pytest.mark.engines
def test_ray_predictions_equal_predict_file_row_for_row_on_100000_texts(trained_model, tmp_path, ray_local):
    import pandas as pd

    from textrnn.batch.tables import TableRequest, predict_table
    from textrnn.inference.predict import PredictRequest
    from textrnn.views.predictions import run_predict

    texts = synthetic_texts(100_000)
    lines = tmp_path / "texts.txt"
    lines.write_text("\n".join(texts) + "\n")
    table = tmp_path / "texts.parquet"
    pd.DataFrame({"id": np.arange(len(texts))[::-1], "text": texts}).to_parquet(table, row_group_size=7_000)
    stream = io.StringIO()
    run_predict(PredictRequest(file=str(lines), model=str(trained_model), format="csv", device="cpu"), stream)
    local = list(csv.DictReader(io.StringIO(stream.getvalue())))
    result = predict_table(TableRequest(str(table), str(tmp_path / "out.parquet"), str(trained_model), workers=2))
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert result.rows == len(out) == len(local) == 100_000 and result.workers == 2
    assert out["id"].tolist() == list(range(len(texts)))[::-1]  # input order, id column kept
    assert out["text"].tolist() == [row["text"] for row in local]
    assert out["label"].tolist() == [row["label"] for row in local]
    np.testing.assert_allclose(out["probability"], [float(row["probability"]) for row in local], rtol=0, atol=2e-6)


@pytest.mark.engines
@pytest.mark.parametrize(("source", "target"), [("csv", "jsonl"), ("jsonl", "csv"), ("txt", "parquet/")])
def test_ray_reads_and_writes_csv_jsonl_text_and_folders(trained_model, tmp_path, ray_local, source, target):
    import pandas as pd

    from textrnn.batch.tables import TableRequest, predict_table

    texts = synthetic_texts(500, seed=1)
    frame = pd.DataFrame({"key": [f"r{i}" for i in range(500)], "review": texts})
    path = tmp_path / f"in.{source}"
    if source == "csv":
        frame.to_csv(path, index=False)
    elif source == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        path.write_text("\n".join(texts) + "\n\n")  # a blank line is skipped, as `predict --file` does
    out = str(tmp_path / f"out.{target}")
    result = predict_table(TableRequest(str(path), out, str(trained_model), top_k=2, workers=2))
    if target == "jsonl":
        got = pd.DataFrame([json.loads(line) for line in open(out)])
    elif target == "csv":
        got = pd.read_csv(out)
    else:
        got = pd.read_parquet(out)
    assert result.rows == len(got) == 500
    expected = Predictor(trained_model, device="cpu").predict(texts, top_k=2)
    text_column = "text" if source == "txt" else "review"
    if source != "txt":
        assert got["key"].tolist() == frame["key"].tolist()
    if target.endswith("/"):  # files written by the cluster: order within each file, files by name
        got = got.set_index(text_column).loc[texts].reset_index()
    assert got[text_column].tolist() == texts
    assert got["label_2"].tolist() == [p.top[1][0] for p in expected]


@pytest.mark.engines
def test_predict_engine_ray_command(trained_model, tmp_path, ray_local):
    import pandas as pd
    from typer.testing import CliRunner

    from textrnn.cli import app

    pd.DataFrame({"sentence": synthetic_texts(50)}).to_parquet(tmp_path / "t.parquet")
    args = ["predict", "--engine", "ray", "--file", str(tmp_path / "t.parquet"), "--out", str(tmp_path / "p.csv"),
            "--model", str(trained_model), "--workers", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote 50 predictions" in result.output and len(pd.read_csv(tmp_path / "p.csv")) == 50
    again = CliRunner().invoke(app, args)  # never replaces a file without --force
    assert again.exit_code == 1 and "exists" in again.output
    assert CliRunner().invoke(app, [*args, "--force"]).exit_code == 0


def test_predict_engine_ray_usage_errors(trained_model, tmp_path):
    from typer.testing import CliRunner

    from textrnn.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["predict", "--out", str(tmp_path / "p.parquet"), "--file", "x.txt"])
    assert result.exit_code == 1 and "--out writes a table with --engine ray" in result.output
    result = runner.invoke(app, ["predict", "--engine", "ray", "some text", "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 1 and "pass --file TABLE and --out FILE" in result.output


def test_without_ray_the_engine_is_a_one_line_error(trained_model, tmp_path):
    table, out = str(trained_model / "metadata.json"), str(tmp_path / "p.parquet")
    code = ("import sys; sys.modules['ray'] = None\n"  # as if not installed
            "from typer.testing import CliRunner\nfrom textrnn.cli import app\n"
            f"r = CliRunner().invoke(app, ['predict', '--engine', 'ray', '--file', {table!r}, '--out', {out!r}])\n"
            "print(r.exit_code, r.output)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("1 ") and "pip install 'textrnn[ray]'" in out


# -------------------------------------------------------------------------------------------- Spark


@pytest.mark.engines
def test_spark_map_in_pandas_adds_the_predictions(trained_model, monkeypatch):
    pytest.importorskip("pyspark", reason="needs pyspark: pip install 'textrnn[spark]'")
    pytest.importorskip("pyarrow", reason="mapInPandas needs pyarrow")
    if shutil.which("java") is None:
        pytest.skip("pyspark needs Java")
    from pyspark.sql import SparkSession

    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)  # the workers run this Python, which has textrnn

    texts = synthetic_texts(1000, seed=2)
    spark = (SparkSession.builder.master("local[2]").appName("textrnn-test")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate())
    try:
        df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id long, text string").repartition(3)
        predictor = BatchPredictor(trained_model)
        rows = df.mapInPandas(predictor.map_frames, schema=predictor.spark_schema(df.schema)).collect()
    finally:
        spark.stop()
    got = {row["id"]: (row["label"], row["probability"]) for row in rows}
    expected = Predictor(trained_model, device="cpu").predict(texts)
    assert len(got) == 1000
    assert [got[i][0] for i in range(1000)] == [p.label for p in expected]
    np.testing.assert_allclose([got[i][1] for i in range(1000)], [p.probability for p in expected], atol=1e-6)


@pytest.mark.engines
def test_ray_reports_an_unreadable_table_in_one_line(trained_model, tmp_path, ray_local):
    from textrnn.batch.tables import TableRequest, predict_table
    from textrnn.errors import DataError

    (tmp_path / "bad.parquet").write_text("text\nnot parquet at all\n")
    with pytest.raises(DataError, match="Ray Data could not classify .*bad.parquet"):
        predict_table(TableRequest(str(tmp_path / "bad.parquet"), str(tmp_path / "o.csv"), str(trained_model),
                                   workers=2))
    assert not (tmp_path / "o.csv").exists()
