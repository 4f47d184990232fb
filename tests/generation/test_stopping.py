"""Stop strings: trimming, and streams that hold back what could still become one."""

import random

import pytest

from spacy_lm_suite.generation.stopping import StopStringStream, find_stop, held_back, trim_at_stop


def test_trim_at_the_earliest_stop_string():
    assert trim_at_stop("Paris.\nQ: next\n\n", ["\n\n", "\nQ:"]) == ("Paris.", True)
    assert trim_at_stop("Paris.", ["\n"]) == ("Paris.", False)
    assert find_stop("abcabc", ["c", "bc"]) == 1


def test_held_back_is_the_longest_suffix_that_starts_a_stop_string():
    assert held_back("Answer\n", ["\n\n"]) == 1
    assert held_back("Answer: E", ["END", "\n\n"]) == 1
    assert held_back("Answer: EN", ["END"]) == 2
    assert held_back("Answer", ["END"]) == 0
    assert held_back("caf\ufffd", []) == 1  # an incomplete UTF-8 character waits for its next byte


@pytest.mark.parametrize("seed", range(20))
def test_stream_pieces_join_to_the_trimmed_text(seed):
    rng = random.Random(seed)
    alphabet = "ab\n:E"
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
    stop = rng.choice([[], ["\n\n"], ["E:", "bb"], ["aaa"]])
    stream = StopStringStream(stop)
    pieces = []
    position = 0
    while position < len(text):
        position = min(len(text), position + rng.randint(1, 4))
        pieces.append(stream.update(text[:position]))
        # nothing released can be part of a stop string
        assert all(s not in "".join(pieces) for s in stop)
    pieces.append(stream.finish(text))
    assert "".join(pieces) == trim_at_stop(text, stop)[0]
