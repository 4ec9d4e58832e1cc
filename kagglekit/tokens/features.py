"""Hand-made token features for the CRF: the word, its shape and affixes, its neighbours and its place.

A span competition's query (NBME's feature text) is joined to the word features, so one CRF learns which words
answer which query.
"""

from __future__ import annotations

import re

from kagglekit.tokens.layout import Sequence

SHAPES = [(re.compile(r"[A-Z]"), "X"), (re.compile(r"[a-z]"), "x"), (re.compile(r"[0-9]"), "d")]
REPEATS = re.compile(r"(.)\1+")
SENTENCE_END = {".", "!", "?", "\n", "\n\n"}


def word_shape(token: str) -> str:
    """"McDonald42" -> "XxXxd": letter classes with runs collapsed, other characters kept."""
    shape = token
    for pattern, letter in SHAPES:
        shape = pattern.sub(letter, shape)
    return REPEATS.sub(r"\1", shape)[:12]


def _word(token: str) -> dict[str, str | bool]:
    lower = token.lower()
    return {
        "word": token, "lower": lower, "shape": word_shape(token), "prefix2": lower[:2], "prefix3": lower[:3],
        "prefix4": lower[:4], "suffix2": lower[-2:], "suffix3": lower[-3:], "suffix4": lower[-4:], "title": token.istitle(), "upper": token.isupper(), "digit": token.isdigit(),
        "has_digit": any(c.isdigit() for c in token), "at": "@" in token, "url": "://" in token or lower.startswith("www."),
        "space": not token.strip(),
    }


def token_features(sequence: Sequence) -> list[dict[str, str | bool | float]]:
    """One feature dict per token (the format sklearn-crfsuite reads)."""
    words = [_word(t) for t in sequence.tokens]
    n = len(words)
    query = sequence.query.lower()
    features = []
    for i, word in enumerate(words):
        f: dict[str, str | bool | float] = {"bias": 1.0, **word, "length": str(min(len(sequence.tokens[i]), 12)),
                                            "position": str(min(10, 10 * i // max(n, 1)))}
        f["sentence_start"] = i == 0 or sequence.tokens[i - 1].strip() in SENTENCE_END or not sequence.tokens[i - 1].strip()
        for offset in (-2, -1, 1, 2):
            j = i + offset
            if 0 <= j < n:
                f[f"{offset}:lower"] = words[j]["lower"]
                if abs(offset) == 1:
                    f[f"{offset}:shape"] = words[j]["shape"]
                    f[f"{offset}:title"] = words[j]["title"]
            else:
                f[f"{offset}:edge"] = True
        if i > 0:
            f["bigram"] = f"{words[i - 1]['lower']} {word['lower']}"
        if i + 1 < n:
            f["next_bigram"] = f"{word['lower']} {words[i + 1]['lower']}"
        if query:
            f["q:lower"] = f"{query}|{word['lower']}"
            f["q:prefix4"] = f"{query}|{word['lower'][:4]}"
            f["q:-1"] = f"{query}|{words[i - 1]['lower'] if i else '<s>'}"
            f["q:+1"] = f"{query}|{words[i + 1]['lower'] if i + 1 < n else '</s>'}"
        features.append(f)
    return features
