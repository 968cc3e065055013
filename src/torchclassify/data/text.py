"""Free-text columns (an email body, a ticket subject, a review) as TF-IDF features the network learns from.

One-hot encoding a text column over its most frequent exact strings is noise: almost every message is its own
string. A bag of words and word pairs, weighted by TF-IDF (scikit-learn's vectoriser, fitted on the training
split only), keeps what the words say. Its state, the vocabulary and the idf weights, is plain JSON: a
vectoriser is rebuilt from it at prediction, never unpickled. Unseen words are simply not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_FEATURES = 2000  # terms kept per text column: the most frequent words and word pairs of the training rows
MIN_DF = 2  # a term must appear in this many training rows (a one-off word carries no pattern)
MAX_CELL_CHARS = 100_000  # longer cells are cut: one huge cell cannot make a row cost gigabytes
NGRAMS = (1, 2)


@dataclass
class TextColumn:
    """A text column's fitted vectoriser: `vocabulary` (terms in feature order) and their `idf` weights."""

    name: str
    vocabulary: list[str]
    idf: list[float]

    @property
    def feature_names(self) -> list[str]:
        return [f"{self.name}~{term}" for term in self.vocabulary]

    @classmethod
    def fit(cls, name: str, column: pd.Series, max_features: int = MAX_FEATURES) -> "TextColumn":
        """Learn the vocabulary and idf weights from the training rows' text."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        text = as_text(column)
        vectoriser = TfidfVectorizer(max_features=max_features, min_df=min(MIN_DF, len(text)), ngram_range=NGRAMS,
                                     sublinear_tf=True, dtype=np.float32)
        try:
            vectoriser.fit(text)
        except ValueError:  # no term at all (every cell empty or stop-words only): a column of zeros
            return cls(name, [], [])
        order = sorted(vectoriser.vocabulary_, key=vectoriser.vocabulary_.get)
        return cls(name, order, [float(v) for v in vectoriser.idf_])

    def transform(self, column: pd.Series) -> np.ndarray:
        """(n, len(vocabulary)) float32 TF-IDF rows (each L2-normalised), from the stored vocabulary."""
        n = len(column)
        if not self.vocabulary or n == 0:
            return np.zeros((n, len(self.vocabulary)), np.float32)
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectoriser = TfidfVectorizer(vocabulary={term: i for i, term in enumerate(self.vocabulary)},
                                     ngram_range=NGRAMS, sublinear_tf=True, dtype=np.float32)
        vectoriser.idf_ = np.asarray(self.idf, dtype=np.float64)
        return vectoriser.transform(as_text(column)).toarray().astype(np.float32, copy=False)

    def to_dict(self) -> dict:
        return {"name": self.name, "vocabulary": self.vocabulary, "idf": self.idf}

    @classmethod
    def from_dict(cls, raw: dict) -> "TextColumn":
        return cls(str(raw["name"]), [str(t) for t in raw["vocabulary"]], [float(v) for v in raw["idf"]])


def as_text(column: pd.Series) -> list[str]:
    """Cells as strings: missing ones empty, anything else its text, cut at MAX_CELL_CHARS."""
    values = column.astype(object).where(column.notna(), "")
    return [str(v)[:MAX_CELL_CHARS] for v in values]


def looks_like_text(values: pd.Series) -> bool:
    """Free text rather than a category or a code: several words per cell on average, and most cells differ."""
    text = values.dropna().astype(str)
    if len(text) < 20:
        return False
    words = text.str.split().str.len()
    return bool(words.mean() >= 3 and text.nunique() >= 0.5 * len(text))
