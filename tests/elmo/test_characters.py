import torch

from spacy_lm_suite.elmo.characters import (
    BOS_CHAR_IDS,
    BOW_CHAR,
    EOS_CHAR_IDS,
    EOW_CHAR,
    PAD_CHAR,
    batch_to_char_ids,
    batch_to_type_ids,
    boundary_char_ids,
    token_to_char_ids,
)


def test_ascii_token_follows_allennlp_layout():
    ids = token_to_char_ids("cat")
    assert len(ids) == 50
    assert ids[:5] == (BOW_CHAR, ord("c") + 1, ord("a") + 1, ord("t") + 1, EOW_CHAR)
    assert set(ids[5:]) == {PAD_CHAR}
    assert (BOW_CHAR, EOW_CHAR, PAD_CHAR) == (259, 260, 261)  # AllenNLP's 258, 259, 260 plus one


def test_sentence_boundaries():
    assert BOS_CHAR_IDS[:3] == (259, 257, 260) and EOS_CHAR_IDS[:3] == (259, 258, 260)
    assert boundary_char_ids().tolist() == [list(BOS_CHAR_IDS), list(EOS_CHAR_IDS)]


def test_emoji_cjk_and_control_characters_are_utf8_bytes():
    for token in ["🙂", "世界", "\x07", "\u200b", "e\u0301"]:
        data = token.encode("utf-8")
        ids = token_to_char_ids(token)
        assert ids[1 : 1 + len(data)] == tuple(b + 1 for b in data)
        assert ids[1 + len(data)] == EOW_CHAR


def test_long_tokens_are_truncated_to_48_bytes():
    ids = token_to_char_ids("x" * 1000)
    assert len(ids) == 50 and ids[0] == BOW_CHAR and ids[49] == EOW_CHAR
    assert ids[1:49] == (ord("x") + 1,) * 48
    # cut inside a multi-byte character, as AllenNLP does
    emoji_ids = token_to_char_ids("🙂" * 20)
    assert emoji_ids[49] == EOW_CHAR and len(emoji_ids) == 50


def test_empty_token_and_lone_surrogate():
    assert token_to_char_ids("")[:3] == (BOW_CHAR, EOW_CHAR, PAD_CHAR)
    assert token_to_char_ids("a\ud800b")[:4] == (BOW_CHAR, ord("a") + 1, ord("b") + 1, EOW_CHAR)


def test_other_max_chars():
    assert len(token_to_char_ids("abc", max_chars=10)) == 10
    assert token_to_char_ids("abcdefghijkl", max_chars=10)[9] == EOW_CHAR


def test_batch_to_char_ids_pads_with_zeros():
    char_ids, mask = batch_to_char_ids([["a", "bb"], [], ["c"]])
    assert char_ids.shape == (3, 2, 50) and char_ids.dtype == torch.long
    assert mask.tolist() == [[True, True], [False, False], [True, False]]
    assert char_ids[1].abs().sum() == 0 and char_ids[2, 1].abs().sum() == 0
    assert char_ids[0, 1].tolist() == list(token_to_char_ids("bb"))


def test_batch_to_type_ids_deduplicates():
    types, index, mask = batch_to_type_ids([["the", "cat", "the"], ["cat"]])
    assert types.shape == (2, 50)
    assert index.tolist() == [[0, 1, 0], [1, 0, 0]]
    assert mask.tolist() == [[True, True, True], [True, False, False]]
    char_ids, _ = batch_to_char_ids([["the", "cat", "the"], ["cat"]])
    assert torch.equal(types[index] * mask.unsqueeze(-1), char_ids)


def test_empty_batches():
    char_ids, mask = batch_to_char_ids([])
    assert char_ids.shape == (0, 0, 50) and mask.shape == (0, 0)
    types, index, mask = batch_to_type_ids([[], []])
    assert types.shape == (0, 50) and index.shape == (2, 0)
