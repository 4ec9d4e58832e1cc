"""Multiple choice through the pair machinery: any binary model scores (question, option) pairs, and a question's
options are ranked by those scores.

The engine sees an ordinary classifier over the option names: ``fit`` takes the question rows (their text fields plus
one column per option) and the index of the right option, ``predict`` gives one probability per option (rows sum to
1). Inside, every row becomes one pair per option, labelled 1 for the right one, and the wrapped model learns that
binary task on a two-field pair schema (``question`` + ``option``), so its pair features (similarity of the two sides,
a cross-encoder's segments) see the question beside each option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.errors import ModelError
from kagglekit.inputs import InputField, Inputs, InputSchema
from kagglekit.io import read_json, write_json
from kagglekit.models.base import BINARY, MULTICLASS, TaskSpec, TextModel

CHOICE_FILE = "choice.json"
PAIR_SCHEMA = InputSchema((InputField("question", "text"), InputField("option", "text")), (("question", "option"),))


class OptionScorer:
    """A wrapped model's P(right option) for each option of each row, normalised over the row's options."""

    def __init__(self, model: TextModel, options: list[str]):
        self.model, self.options = model, list(options)

    def __getattr__(self, name: str) -> Any:  # name, tags, fit_seconds_, history_, refit_params, release, ...
        return getattr(self.model, name)

    def pairs(self, inputs: Inputs) -> Inputs:
        """One (question, option) row per option of each row, row-major: row i's options are rows i*K .. i*K+K-1."""
        missing = [o for o in self.options if o not in inputs.schema.names]
        if missing:
            raise ModelError(f"{self.model.name}: the inputs lack option column(s) {', '.join(missing)}")
        question_fields = [f for f in inputs.schema.names if f not in self.options and inputs.schema.kind(f) != "numeric"]
        questions = inputs.frame[question_fields].astype(str).agg(" | ".join, axis=1).to_numpy() if question_fields \
            else np.full(len(inputs), "", dtype=object)
        options = inputs.frame[self.options].astype(str).to_numpy()
        frame = pd.DataFrame({"question": np.repeat(questions, len(self.options)), "option": options.reshape(-1)})
        return Inputs(frame, PAIR_SCHEMA)

    def _pair_targets(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.int64).reshape(-1)
        return (np.arange(len(self.options))[None, :] == y[:, None]).astype(np.int64).reshape(-1)

    def fit(self, X: Any, y: np.ndarray, *, val: tuple[Any, np.ndarray] | None = None,
            task: TaskSpec | None = None) -> "OptionScorer":
        inputs = Inputs.of(X)
        self.schema_ = inputs.schema
        pair_val = (self.pairs(Inputs.of(val[0], self.schema_)), self._pair_targets(val[1])) if val is not None else None
        self.model.fit(self.pairs(inputs), self._pair_targets(y), val=pair_val, task=TaskSpec(BINARY, 2))
        return self

    def predict(self, X: Any) -> np.ndarray:
        inputs = Inputs.of(X, self.schema_)
        scores = self.model.predict(self.pairs(inputs))[:, 1].reshape(len(inputs), len(self.options))
        total = scores.sum(axis=1, keepdims=True)
        return np.divide(scores, total, out=np.full_like(scores, 1.0 / len(self.options)), where=total > 0)

    predict_proba = predict

    @property
    def task_(self) -> TaskSpec:
        return TaskSpec(MULTICLASS, len(self.options))

    def save(self, directory: Path | str) -> None:
        """The wrapped model's folder, plus the options in choice.json (which ``load_model`` reads to wrap it again)."""
        self.model.save(directory)
        write_json(Path(directory) / CHOICE_FILE, {"options": self.options, "schema": self.schema_.to_dict()})

    @classmethod
    def load(cls, model: TextModel, directory: Path) -> "OptionScorer":
        record = read_json(directory / CHOICE_FILE)
        scorer = cls(model, record["options"])
        scorer.schema_ = InputSchema.from_dict(record["schema"])
        return scorer
