import json

import pytest

from tests.conftest import ROWS, write_csv
from textrnn.data import check_trainable, load_dataset, stratified_split
from textrnn.errors import DataError


def test_reads_csv_tsv_and_jsonl_alike(tmp_path):
    csv_path = write_csv(tmp_path / "a.csv", ROWS)
    tsv_path = tmp_path / "a.tsv"
    tsv_path.write_text("sentence\tcategory\n" + "".join(f"{t}\t{lab}\n" for t, lab in ROWS), encoding="utf-8")
    jsonl_path = tmp_path / "a.jsonl"
    jsonl_path.write_text("".join(json.dumps({"review": t, "class": lab}) + "\n" for t, lab in ROWS),
                          encoding="utf-8")
    loaded = [load_dataset(p) for p in (csv_path, tsv_path, jsonl_path)]
    for d in loaded:
        assert d.texts == [t for t, _ in ROWS]
        assert d.labels == [lab for _, lab in ROWS]


def test_explicit_columns_and_utf8_bom(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("\ufeffbody,answer\n\"héllo, wörld\",x\nbye,y\n", encoding="utf-8")
    d = load_dataset(path, text_column="body", label_column="answer")
    assert d.texts == ["héllo, wörld", "bye"] and d.labels == ["x", "y"]


@pytest.mark.parametrize("content, message", [
    (b"text,label\n", "no data rows"),
    (b"", "no data rows"),
    (b"words,sentiment_x\na,b\n", "no text column"),
    (b"text,stars\na,b\n", "no label column"),
    (b"text,label\n\xff\xfe bad,x\n", "not UTF-8"),
    (b"text,label\nfine,x\n  ,y\n", "line 3: empty text"),
    (b"text,label\nfine,x\nalso fine,\n", "line 3: empty label"),
])
def test_bad_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_dataset(path)


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="unknown file type"):
        load_dataset(tmp_path / "data.xlsx")


def test_bad_json_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{oops\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        load_dataset(path)


def test_single_class_is_not_trainable(tmp_path):
    d = load_dataset(write_csv(tmp_path / "one.csv", [("a", "x"), ("b", "x")]))
    with pytest.raises(DataError, match="single class"):
        check_trainable(d)


def test_stratified_split_is_seeded_and_keeps_every_class(tmp_path):
    d = load_dataset(write_csv(tmp_path / "d.csv", ROWS * 5))
    train1, val1 = stratified_split(d, 0.2, seed=3)
    train2, val2 = stratified_split(d, 0.2, seed=3)
    _, val3 = stratified_split(d, 0.2, seed=4)
    assert val1.texts == val2.texts and train1.texts == train2.texts
    assert val1.texts != val3.texts
    assert len(train1) + len(val1) == len(d)
    assert val1.label_counts() == {"neg": 8, "neutral": 8, "pos": 8}
