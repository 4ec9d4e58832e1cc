"""One family of exceptions: the CLI prints these without a traceback."""


class KaggleKitError(Exception):
    """Base of every error a user can act on; the message says what to do."""


class DataError(KaggleKitError):
    """A competition file is missing, malformed or inconsistent."""


class ConfigError(KaggleKitError):
    """An option or setting has a value that cannot be used."""


class KaggleApiError(KaggleKitError):
    """The Kaggle API refused or failed a request."""


class ModelError(KaggleKitError):
    """A model cannot be built, trained or loaded."""


class RunLockedError(KaggleKitError):
    """Another process is training into the same run folder."""
