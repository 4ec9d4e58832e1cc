"""Token and span competitions (PII Data Detection, NBME, Feedback Prize): labels per token, character spans or
word segments, not one answer per row.

The library surface the CLI and notebooks call::

    detect(directory) -> TokenLayout | None      # which layout a competition folder holds, if any
    train(directory, models, folds=5, ...) -> TokenResult
    validate(path, directory) -> rows
    errors(run, data, name) / report_data(run, data) / write_report(run, data) / predict(run, text)
"""

from kagglekit.tokens import keras_tagger  # noqa: F401  registers bilstm (TensorFlow is imported only when it fits)
from kagglekit.tokens import transformer_tagger  # noqa: F401  registers transformer (KerasHub only when it fits)
from kagglekit.tokens.analysis import TextPrediction, TokenReport, errors, predict, report_data, write_errors, write_report
from kagglekit.tokens.layout import TokenData, TokenLayout, detect, load
from kagglekit.tokens.pipeline import TokenResult, train
from kagglekit.tokens.run import TokenRun, is_token_run
from kagglekit.tokens.submission import validate

__all__ = ["TextPrediction", "TokenData", "TokenLayout", "TokenReport", "TokenResult", "TokenRun", "detect", "errors",
           "is_token_run", "load", "predict", "report_data", "train", "validate", "write_errors", "write_report"]
