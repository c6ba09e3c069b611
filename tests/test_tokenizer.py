import numpy as np
import pytest

from tests.conftest import ROWS
from textrnn.config import TokenizerConfig
from textrnn.tokenizer import PAD_ID, UNK_ID, encode, load_tokenizer, pad, train_tokenizer, unknown_rate

TEXTS = [t for t, _ in ROWS]


@pytest.mark.parametrize("kind", ["word", "bpe", "wordpiece"])
def test_every_kind_reserves_pad_and_unk(kind, tmp_path):
    tok = train_tokenizer(TEXTS, TokenizerConfig(kind=kind, vocab_size=200))
    assert tok.token_to_id("[PAD]") == PAD_ID and tok.token_to_id("[UNK]") == UNK_ID
    ids = encode(tok, ["a wonderful film", "zzqx"])
    assert all(len(x) > 0 and (x != PAD_ID).all() for x in ids)
    tok.save(str(tmp_path / "t.json"))
    assert [list(x) for x in encode(load_tokenizer(tmp_path / "t.json"), ["a wonderful film"])] == [list(ids[0])]


def test_unknown_words_map_to_unk_and_lowercase_applies():
    tok = train_tokenizer(TEXTS, TokenizerConfig(min_frequency=1))
    ids = encode(tok, ["WONDERFUL xylophone"])[0]
    assert ids[0] == tok.token_to_id("wonderful") and ids[1] == UNK_ID
    assert unknown_rate(tok, ["xylophone quartz"]) == 1.0


def test_truncation_and_padding():
    tok = train_tokenizer(TEXTS, TokenizerConfig(max_length=3))
    ids = encode(tok, ["the best movie of the year", "brilliant"])
    assert [len(x) for x in ids] == [3, 1]
    batch = pad(ids)
    assert batch.shape == (2, 3) and batch.dtype == np.int64 and list(batch[1, 1:]) == [PAD_ID, PAD_ID]


def test_min_frequency_drops_rare_words():
    tok = train_tokenizer(TEXTS * 2 + ["rareword"], TokenizerConfig(min_frequency=2))
    assert tok.token_to_id("rareword") is None and tok.token_to_id("film") is not None
