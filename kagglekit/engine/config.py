"""What a training run depends on (``TrainConfig``) and the checks that make a bad choice fail before any fold."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kagglekit.config import Workspace
from kagglekit.durations import parse_duration
from kagglekit.engine.backends import visible_gpus
from kagglekit.errors import ConfigError
from kagglekit.models import available_models, check_model_params, get_model_class
from kagglekit.models import params_for as model_params_for

DEVICES = ("auto", "cpu", "gpu")


@dataclass
class TrainConfig:
    """Everything a training run depends on; recorded in the run's manifest."""

    competition: str
    models: list[str]
    data_dir: Path | None = None
    folds: int = 5
    seed: int = 42
    metric: str | None = None  # a metric name; None: from fetch's metadata, else guessed from the task
    text_columns: list[str] | None = None  # default: every input inferred from the data (kagglekit.inputs)
    pairs: list[list[str]] | None = None  # text columns read together, e.g. [["anchor", "target"]]
    categorical_columns: list[str] | None = None
    numeric_columns: list[str] | None = None
    ignore_columns: list[str] | None = None
    model_params: dict[str, Any] = field(default_factory=dict)
    run_name: str | None = None
    device: str = "auto"
    mixed_precision: bool = False
    tensorboard_dir: Path | None = None
    ensemble: bool = True
    workspace: Workspace = field(default_factory=Workspace.current)
    jobs: int | str = "auto"  # parallel worker processes (local backend); auto: from the machine and the data
    backend: str = "local"  # local or ray
    ray_address: str | None = None  # an existing Ray cluster (ray start --head), for backend ray
    target_columns: list[str] | None = None  # default: the sample's columns other than the id
    group_column: str | None = None  # rows sharing a value stay in one fold
    prepare: Path | None = None  # a prepare.py other than the one beside the data (kagglekit.tables)
    catalogue: str | None = None  # TABLE:ID_COLUMN:TEXT_COLUMN whose ids the sample ranks (kagglekit.catalogue)
    skipped: dict[str, str] = field(default_factory=dict)  # models --all left out, and why
    seeds: int = 1  # each model trained with this many seeds on the same folds, predictions averaged
    pseudo_label: bool = False  # a second round trained with the confident test predictions added (NAME+pl)
    time_limit: float | None = None  # seconds the run may take (--time-limit 20m); None: no limit
    defaults: bool = False  # ignore the run's Optuna studies (kagglekit tune): every model with its default parameters
    tune: float | None = None  # seconds spent tuning the models that matter most before training (--tune 10m)
    tuned: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> the study whose best parameters it uses

    @classmethod
    def resolve(cls, competition: str, models: list[str], all_models: bool, **options: Any) -> "TrainConfig":
        """Validate the choices up front so a typo fails before any training starts.

        ``--all`` leaves out, each with one line saying why and how to run it anyway, the models that need a
        GPU when there is none (hours on a CPU) and those that cannot run as configured (e.g. no pretrained
        checkpoint installed or given); naming one with -m runs it.
        """
        requested = available_models() if all_models else models
        if not requested:
            raise ConfigError(f"choose models with -m NAME (repeatable) or --all; available: {', '.join(available_models())}")
        for name in requested:
            get_model_class(name)
        if options.get("time_limit") is not None:
            options["time_limit"] = parse_duration(options["time_limit"])
        if options.get("tune") is not None:
            options["tune"] = parse_duration(options["tune"], "--tune")
        check_options(options)
        config = cls(competition=competition, models=list(dict.fromkeys(requested)), **options)
        if all_models:
            no_gpu = config.device == "cpu" or not visible_gpus()
            for name in requested:
                model = get_model_class(name)
                if no_gpu and model.tags.gpu_only_in_all:  # first: its checkpoint need not be looked up
                    reason = f"it fine-tunes a transformer, hours on a CPU; name it with -m {name} to train it anyway"
                else:
                    reason = model.all_skip_reason(config.params_for(name))
                if reason:
                    config.skipped[name] = reason
            config.models = [m for m in config.models if m not in config.skipped]
        return config

    @property
    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir) if self.data_dir else self.workspace.data_dir(self.competition)

    @property
    def resolved_run_name(self) -> str:
        return self.run_name or f"k{self.folds}-seed{self.seed}"

    def params_for(self, name: str) -> dict[str, Any]:
        """The options model ``name`` accepts, plus its cache folder.

        A plain key (``learning_rate``) goes to every model that takes it; ``NAME.KEY`` (``transformer.learning_rate``)
        only to model NAME, and wins over the plain key: a fine-tune's learning rate is not an LSTM's.
        """
        return model_params_for(name, self.model_params, seed=self.seed, cache_dir=str(self.workspace.cache_dir / "embeddings"))

    def competition_args(self) -> dict[str, Any]:
        """load_competition's arguments: how a worker reloads the same competition."""
        args: dict[str, Any] = {"directory": str(self.resolved_data_dir), "name": self.competition, "metric": self.metric}
        for key in ("text_columns", "categorical_columns", "numeric_columns", "ignore_columns"):
            if getattr(self, key):
                args[key] = list(getattr(self, key))
        if self.pairs:
            args["pairs"] = [list(p) for p in self.pairs]
        if self.target_columns:
            args["target_columns"] = list(self.target_columns)
        if self.group_column:
            args["group_column"] = self.group_column
        if self.prepare:
            args["prepare"] = str(self.prepare)
        if self.catalogue:
            args["catalogue"] = self.catalogue
        return args

    def record(self) -> dict[str, Any]:
        """The configuration as the manifest records it: every choice, not where this machine keeps its folders."""
        return {k: v for k, v in asdict(self).items() if k not in ("workspace", "skipped")}


def check_options(options: dict[str, Any]) -> None:
    """The run options' checks, before any data is read (the CLI's choices hold already; the notebook API's may not)."""
    if options.get("folds", 5) < 2:
        raise ConfigError(f"--folds must be at least 2, got {options['folds']}")
    if options.get("device", "auto") not in DEVICES:
        raise ConfigError(f"--device must be one of {', '.join(DEVICES)}, got {options['device']!r}")
    if options.get("seeds", 1) < 1:
        raise ConfigError(f"--seeds must be at least 1, got {options['seeds']}")
    if options.get("time_limit") is not None and options["time_limit"] <= 0:
        raise ConfigError(f"--time-limit must be more than 0 seconds, got {options['time_limit']:g}")
    jobs = options.get("jobs", "auto")
    if jobs != "auto" and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ConfigError(f"--jobs must be a number of worker processes (1 or more) or auto, got {jobs!r}")
    if options.get("tune") is not None and options.get("defaults"):
        raise ConfigError("--tune makes studies for train to use and --defaults ignores them: choose one")
    if options.get("ray_address") and options.get("backend", "local") != "ray":
        raise ConfigError("--address is the address of a Ray cluster: use it with --backend ray")
    check_model_params(options.get("model_params", {}))





