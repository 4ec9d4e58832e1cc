"""The settings file as Click's default map: every option can default from it, and flags override it.

Layout of ``kagglekit.toml`` (or ``[tool.kagglekit]`` in ``pyproject.toml``)::

    data_dir = "../shared/data/nlp-getting-started"   # top level: options of train and explore
    folds = 5
    models = ["baseline", "use"]
    [model_params]                                     # --epochs, --encoder ... or else --param KEY=VALUE
    epochs = 5
    [train]                                            # a table per command wins over the top level
    jobs = 2
    [ensemble]
    method = ["stack"]
    [kernel.push]                                      # a sub-command's table sits under its group's

Keys are option names (``test_from`` or ``test-from``); a repeatable option also takes its plural
(``models``, ``text_columns``). A key that no option takes is an error naming the file and the valid keys.
"""

from __future__ import annotations

import json
from typing import Any

from kagglekit.cli.common import MODEL_PARAMS_PANEL
from kagglekit.config import Settings
from kagglekit.errors import ConfigError

SHARED_COMMANDS = ("train", "explore", "tune")  # the commands the top-level keys are for (all there was before tables)
MODEL_PARAMS = "model_params"
PARAM_OPTION = "params"  # train's --param KEY=VALUE, for model parameters without an option of their own


def settings_default_map(group: Any, settings: Settings) -> dict[str, Any]:
    """Click's ``default_map`` for the root command ``group``: per command, the defaults ``settings`` give."""
    tables = {k: v for k, v in settings.values.items() if k in group.commands and isinstance(v, dict)}
    shared = {k: v for k, v in settings.values.items() if k not in tables}
    _check_shared(group, shared, settings)
    default_map: dict[str, Any] = {}
    for name, command in group.commands.items():
        defaults = _defaults(command, shared, settings, name, strict=False) if name in SHARED_COMMANDS else {}
        if name in tables:
            defaults = _merge(defaults, _defaults(command, tables[name], settings, name, strict=True))
        if defaults:
            default_map[name] = defaults
    return default_map


def _defaults(command: Any, table: dict[str, Any], settings: Settings, where: str, *, strict: bool) -> dict[str, Any]:
    """One command's defaults from one table; ``strict``: a key the command has no option for is an error."""
    if hasattr(command, "commands"):  # a sub-app: a table per subcommand
        defaults = {}
        for key, value in table.items():
            if key not in command.commands or not isinstance(value, dict):
                raise ConfigError(f"{settings.source}: [{where}] has no command {key!r}; it has: {', '.join(command.commands)}")
            defaults[key] = _defaults(command.commands[key], value, settings, f"{where}.{key}", strict=True)
        return defaults
    options = _options(command)
    defaults = _model_params(options, table.get(MODEL_PARAMS, {}), settings)
    for key, value in table.items():
        option = options.get(key.replace("-", "_"))
        if key == MODEL_PARAMS:
            continue
        if option is None:
            if strict:
                valid = _key_names(command) + ([MODEL_PARAMS] if _takes_model_params(options) else [])
                raise ConfigError(f"{settings.source}: [{where}] has no option {key!r}; it takes: {', '.join(valid)}")
            continue  # a top-level key for the other shared command
        defaults = _merge(defaults, {option.name: _value(option, value)})
    return defaults


def _model_params(options: dict[str, Any], model_params: Any, settings: Settings) -> dict[str, Any]:
    """``[model_params]``: a model-parameter option takes its key (``epochs`` -> --epochs), --param the rest."""
    if not isinstance(model_params, dict):
        raise ConfigError(f"{settings.source}: {MODEL_PARAMS} must be a table, e.g. [{MODEL_PARAMS}] then epochs = 5")
    defaults: dict[str, Any] = {}
    for key, value in model_params.items():
        option = options.get(key.replace("-", "_"))
        if option is not None and _is_model_param(option) and option.name != PARAM_OPTION:
            defaults[option.name] = _value(option, value)
        elif PARAM_OPTION in options:
            defaults.setdefault(PARAM_OPTION, []).append(f"{key}={json.dumps(value)}")
    return defaults  # a command without --param ignores the model parameters it has no option for


def _check_shared(group: Any, shared: dict[str, Any], settings: Settings) -> None:
    """A top-level key must be an option of a shared command: a typo fails rather than being ignored."""
    commands = [group.commands[name] for name in SHARED_COMMANDS if name in group.commands]
    known = {MODEL_PARAMS}.union(*(_options(command) for command in commands))
    for key in shared:
        if key.replace("-", "_") not in known:
            names = sorted({MODEL_PARAMS}.union(*(_key_names(command) for command in commands)))
            raise ConfigError(
                f"{settings.source}: unknown setting {key!r}. Top-level keys are options of {' and '.join(SHARED_COMMANDS)}: "
                f"{', '.join(names)}; another command takes a table named after it, e.g. [ensemble]"
            )


def _options(command: Any) -> dict[str, Any]:
    """The command's options by every name a settings key may use: the parameter, the long flags, their plurals."""
    names: dict[str, Any] = {}
    for param in command.params:
        if param.param_type_name != "option":
            continue
        spellings = {param.name} | {opt.lstrip("-").replace("-", "_") for opt in param.opts if opt.startswith("--")}
        for spelling in spellings:
            names[spelling] = param
            if param.multiple:
                names[spelling + "s"] = param
    return names


def _key_names(command: Any) -> list[str]:
    """The key each option is best written as: its long flag, plural when repeatable (``models``)."""
    names = []
    for param in command.params:
        flags = [opt for opt in param.opts if opt.startswith("--")] if param.param_type_name == "option" else []
        if flags:
            names.append(flags[0].lstrip("-").replace("-", "_") + ("s" if param.multiple else ""))
    return names


def _is_model_param(option: Any) -> bool:
    return getattr(option, "rich_help_panel", None) == MODEL_PARAMS_PANEL


def _takes_model_params(options: dict[str, Any]) -> bool:
    return any(_is_model_param(option) for option in options.values())


def _value(option: Any, value: Any) -> Any:
    """A lone string for a repeatable option is a one-item list (``text_columns = "text"``)."""
    return [value] if option.multiple and isinstance(value, str) else value


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` wins, except that --param lists add up (later pairs override earlier ones when parsed)."""
    merged = {**base, **over}
    if PARAM_OPTION in base and PARAM_OPTION in over:
        merged[PARAM_OPTION] = [*base[PARAM_OPTION], *over[PARAM_OPTION]]
    return merged
