"""kagglekit: a Kaggle competition from download to a scored submission.

In a notebook: ``run = kagglekit.train("nlp-getting-started", models=["tfidf_lr"])``, then
``run.leaderboard()``, ``run.plot("confusion")``, ``run.write_submission()`` (see ``kagglekit.api``).
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["TrainedRun", "load", "train", "__version__"]


def __getattr__(name: str) -> Any:
    """The notebook API, imported on first use so `import kagglekit` (and `kagglekit --help`) stays light."""
    if name in ("TrainedRun", "load", "train"):
        from kagglekit import api

        return getattr(api, name)
    raise AttributeError(f"module 'kagglekit' has no attribute {name!r}")
