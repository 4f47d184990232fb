"""Stop strings: where the text ends, and how much of a stream to hold back.

A stop string is searched in the *generated* text only (not the prompt),
decoded without special tokens. The text ends right before the earliest
occurrence of any stop string; the stop string itself is never part of the
text. The new token ids of a generation keep every token the model produced
up to and including the one that completed the first stop string (a stop
string may end inside a token, so ids cannot be cut exactly at it).

While streaming, the end of the text decoded so far could still turn into
a stop string ("Answer:\\n" with the stop "\\n\\n"): :class:`StopStringStream`
releases only text that can no longer be part of one, and holds back an
incomplete UTF-8 character (decoded as ``U+FFFD``) until its next byte comes.

Pure Python.
"""

from typing import Optional, Sequence, Tuple

REPLACEMENT = "\ufffd"


def find_stop(text: str, stop: Sequence[str]) -> Optional[int]:
    """The index where the earliest stop string in ``text`` starts, or ``None``."""
    found = [index for index in (text.find(s) for s in stop) if index >= 0]
    return min(found) if found else None


def trim_at_stop(text: str, stop: Sequence[str]) -> Tuple[str, bool]:
    """``text`` up to the first stop string, and whether one was found."""
    index = find_stop(text, stop)
    return (text, False) if index is None else (text[:index], True)


def held_back(text: str, stop: Sequence[str]) -> int:
    """How many characters at the end of ``text`` could still begin a stop string
    (or are an incomplete character), so a stream must not release them yet."""
    hold = 0
    for s in stop:
        for size in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:size]):
                hold = max(hold, size)
                break
    if text.endswith(REPLACEMENT):
        hold = max(hold, len(text) - len(text.rstrip(REPLACEMENT)))
    return hold


class StopStringStream:
    """Turns the growing decoded text of one generation into released pieces.

    ``update(text)`` takes the full generated text so far and returns the
    new text that is safe to show; ``stopped`` turns true once a stop string
    appeared; ``finish(text)`` returns what is left at the end (the final
    text is ``text`` trimmed at the first stop string, with nothing held back).
    The concatenation of all pieces is exactly that final text.
    """

    def __init__(self, stop: Sequence[str]) -> None:
        self.stop = tuple(stop)
        self.released = 0
        self.stopped = False

    def update(self, text: str) -> str:
        if self.stopped:
            return ""
        index = find_stop(text, self.stop)
        if index is not None:
            self.stopped = True
            end = index
        else:
            end = len(text) - held_back(text, self.stop)
        return self._release(text, end)

    def finish(self, text: str) -> str:
        trimmed, _ = trim_at_stop(text, self.stop)
        piece = self._release(trimmed, len(trimmed))
        self.stopped = True
        return piece

    def _release(self, text: str, end: int) -> str:
        if end <= self.released:
            return ""
        piece = text[self.released : end]
        self.released = end
        return piece
