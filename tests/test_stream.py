"""Data bigger than memory likes: the streamed reader equals load_dataset, compact texts and token ids
behave as the lists they replace, Parquet input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import ROWS, write_csv
from textrnn.data import load_dataset, stratified_split
from textrnn.data.stream import read_labelled
from textrnn.data.tokens import TextList, TokenArrays, encode_compact, id_dtype
from textrnn.errors import DataError

TRICKY = [("héllo, wörld", "pos"), ('say "hi"\nthere', "neg"), ("  padded  ", " neg "), ("tab\there", "x"),
          ("ünïcode ✓ 🙂", "pos"), ("1", "2")]


def _files(tmp_path):
    rows = TRICKY + ROWS
    csv_path = write_csv(tmp_path / "d.csv", rows)
    tsv = tmp_path / "d.tsv"
    tsv.write_text("text\tlabel\n" + "".join(f"{t.replace(chr(9), ' ').replace(chr(10), ' ')}\t{lab}\n"
                                              for t, lab in rows), encoding="utf-8")
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("".join(json.dumps({"label": lab, "text": t}) + "\n" + ("\n" if i == 3 else "")
                             for i, (t, lab) in enumerate(rows)), encoding="utf-8")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + csv_path.read_bytes() + b"\n\n")
    return [csv_path, tsv, jsonl, bom]


def test_streamed_reading_equals_load_dataset(tmp_path):
    for path in _files(tmp_path):
        for chunk_rows in (1, 5, 65536):
            streamed, loaded = read_labelled(path, chunk_rows=chunk_rows), load_dataset(path)
            assert isinstance(streamed.texts, TextList)
            assert list(streamed.texts) == loaded.texts and streamed.labels == loaded.labels, path
            assert streamed.source == loaded.source and streamed.label_counts() == loaded.label_counts()
    d = read_labelled(_files(tmp_path)[0])
    assert len({id(x) for x in d.labels}) == len(set(d.labels))  # one object per distinct label
    # the split (and so training) is the same as from the lists
    a, b = stratified_split(d, 0.25, 3), stratified_split(load_dataset(_files(tmp_path)[0]), 0.25, 3)
    assert [list(x.texts) for x in a] == [x.texts for x in b] and [x.labels for x in a] == [x.labels for x in b]


@pytest.mark.parametrize(("content", "message"), [
    ("text,label\n", "has no data rows"),
    ("text,label\na,x\n,y\n", "line 3: empty text in column 'text'"),
    ("text,label\na,x\nb,\n", "line 3: empty label in column 'label'"),
    ("text,label\na,x\nb,c,d\n", "line 3 has 3 fields but the header has 2"),
    ("words,label\na,x\n", "has no text column"),
    ("text,text,label\na,b,x\n", "has 2 columns named 'text'"),
])
def test_streamed_reading_refuses_what_load_dataset_refuses(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    for read in (load_dataset, read_labelled):
        with pytest.raises(DataError, match=message):
            read(path)


def test_streamed_reading_refuses_bad_jsonl_and_encodings(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": ["x", "y"]}\n')
    with pytest.raises(DataError, match="line 2: the label in column 'label' must be a string"):
        read_labelled(path)
    path.write_text('{"text": "a", "label": "x"}\nnot json\n')
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        read_labelled(path)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(DataError, match="is not UTF-8 text"):
        read_labelled(latin)
    with pytest.raises(DataError, match="unknown file type"):
        read_labelled(tmp_path / "data.xlsx")


def test_parquet_input(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="Parquet needs pyarrow: pip install 'textrnn[parquet]'")
    import pyarrow.parquet as pq

    texts, labels = [t for t, _ in TRICKY + ROWS], [lab for _, lab in TRICKY + ROWS]
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"id": list(range(len(texts))), "sentence": texts, "label": labels}), path,
                   row_group_size=7)
    d = read_labelled(path)
    assert list(d.texts) == texts and d.labels == [lab.strip() for lab in labels]
    pq.write_table(pa.table({"text": ["a", None], "label": ["x", "y"]}), path)
    with pytest.raises(DataError, match="row 2: empty text"):
        read_labelled(path)
    (tmp_path / "fake.parquet").write_text("text,label\n")
    with pytest.raises(DataError, match="is not a Parquet file"):
        read_labelled(tmp_path / "fake.parquet")


def test_train_on_parquet(tmp_path, models_root):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from tests.conftest import TINY
    from textrnn.cli import app

    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"text": [t for t, _ in ROWS * 3], "label": [lab for _, lab in ROWS * 3]}), path)
    result = CliRunner().invoke(app, ["train", str(path), "--out", str(tmp_path / "m"), *TINY])
    assert result.exit_code == 0, result.output
    from textrnn.folder import ModelFolder

    folder = ModelFolder.open(tmp_path / "m")
    assert folder.metadata.data["train"].rows == len(ROWS * 3) - folder.metadata.data["val"].rows
    assert len(folder.validation_data()) == folder.metadata.data["val"].rows  # re-split from the Parquet file


def test_text_list_reads_like_a_list():
    texts = ["héllo", "", "a b", "🙂"] * 3
    t = TextList.of(texts)
    assert len(t) == 12 and t[0] == "héllo" and t[-1] == "🙂" and t[1:4] == texts[1:4] and list(t) == texts
    assert list(t.take(np.array([11, 0, 2]))) == ["🙂", "héllo", "a b"] and t == texts
    with pytest.raises(IndexError):
        t[12]
    assert TextList.from_chunks([texts[:5], [], texts[5:]]) == t
    assert t.nbytes < 250  # 60 bytes of text, 16 of positions a text


def test_compact_ids_equal_the_tokenizer_lists(trained_model):
    from textrnn.folder import ModelFolder
    from textrnn.tokenizer import encode

    tokenizer = ModelFolder.open(trained_model).tokenizer
    texts = [t for t, _ in ROWS] + ["", "zyzzyva unseen words", "   "]
    lists = encode(tokenizer, texts)
    for chunk in (1, 4, 8192):
        compact = encode_compact(tokenizer, TextList.of(texts), chunk=chunk)
        assert isinstance(compact, TokenArrays) and compact.flat.dtype == np.uint16
        assert len(compact) == len(lists) and all(np.array_equal(a, b) for a, b in zip(compact, lists, strict=True))
        assert compact.lengths.tolist() == [len(x) for x in lists]
    assert id_dtype(65536) == np.uint16 and id_dtype(65537) == np.int32
