"""kagglekit: a Kaggle competition from download to a scored submission."""

__version__ = "0.1.0"
