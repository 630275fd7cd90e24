"""Where the CLI's API key, base URL and model id come from: flag > environment > config file.

The config file is an INI file in the user's config folder (``click.get_app_dir("nanoclient")``,
e.g. ``~/.config/nanoclient/config.ini`` on Linux), or the file named by ``NANOCLIENT_CONFIG``::

    [nanoclient]
    api_key = 1a2b...
    base_url = http://127.0.0.1:8765/api/v2
    model_id = 3f1c...

Nothing here talks to the network or checks that a value works; it only says where each
value came from, so that an error can tell the user which one to fix.
"""
from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ._env import API_KEY_ENV, BASE_URL_ENV, CONFIG_ENV, MODEL_ID_ENV

#: Section of the config file that holds the settings.
SECTION = "nanoclient"
#: Setting -> environment variable that supplies it.
ENV_VARS = {"api_key": API_KEY_ENV, "base_url": BASE_URL_ENV, "model_id": MODEL_ID_ENV}


class ConfigFileError(ValueError):
    """The config file exists but cannot be read as INI: the message is one line naming the file and what is wrong."""


@dataclass(frozen=True)
class Settings:
    """The resolved settings; ``sources`` says where each one came from ("flag", "env" or a file path)."""

    api_key: str | None = None
    base_url: str | None = None
    model_id: str | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def source_of(self, name: str) -> str:
        """A short phrase for where ``name`` came from, e.g. 'the NANONETS_MODEL_ID variable'."""
        source = self.sources.get(name)
        if source == "flag":
            return f"--{name.replace('_', '-')}"
        if source == "env":
            return f"the {ENV_VARS[name]} variable"
        if source:
            return f"the config file {source}"
        return "nowhere"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file in use: $NANOCLIENT_CONFIG, else config.ini in the user's config folder."""
    env = os.environ if env is None else env
    override = env.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    import click

    return Path(click.get_app_dir("nanoclient")) / "config.ini"


def load_file(path: Path) -> dict[str, str]:
    """The settings of a config file (empty when it does not exist); unknown keys are ignored."""
    parser = _read(path)
    if not parser.has_section(SECTION):
        return {}
    return {k: v.strip() for k, v in parser.items(SECTION) if k in ENV_VARS and v.strip()}


def _read(path: Path) -> configparser.ConfigParser:
    """The parsed config file (empty when it does not exist); ConfigFileError, one line, if it cannot be read."""
    parser = configparser.ConfigParser(interpolation=None)
    if not path.exists():
        return parser
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle, source=str(path))
    except (OSError, configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"cannot read config file {path}: {_what_is_wrong(exc)}; fix or delete it") from exc
    return parser


def _what_is_wrong(exc: Exception) -> str:
    """What is wrong with a config file, in a few words on one line (configparser's messages span lines)."""
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return "it is not UTF-8 text"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno} comes before the [{SECTION}] header"
    if isinstance(exc, configparser.ParsingError):
        line = exc.errors[0][0] if exc.errors else "?"
        return f"line {line} is not a 'name = value' line"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"line {exc.lineno} sets {exc.option} a second time"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"line {exc.lineno} starts [{exc.section}] a second time"
    return " ".join(str(exc).split())


def save_file(path: Path, values: Mapping[str, str | None]) -> None:
    """Set (or, with None, remove) settings in a config file, keeping its other content; mode 0600."""
    unknown = set(values) - set(ENV_VARS)
    if unknown:
        raise ValueError(f"unknown settings: {sorted(unknown)}")
    parser = _read(path)
    if not parser.has_section(SECTION):
        parser.add_section(SECTION)
    for key, value in values.items():
        if value is None:
            parser.remove_option(SECTION, key)
        else:
            parser.set(SECTION, key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    # The file may hold an API key: readable by its owner only.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        parser.write(handle)
    os.replace(partial, path)


def resolve(
    api_key: str | None = None,
    base_url: str | None = None,
    model_id: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Settings:
    """Pick each setting from the flag if given, else the environment, else the config file.

    Empty strings count as not given. The config file is read only when some setting is
    still missing after flags and environment.
    """
    env = os.environ if env is None else env
    flags = {"api_key": api_key, "base_url": base_url, "model_id": model_id}
    values: dict[str, str | None] = {}
    sources: dict[str, str] = {}
    for name, flag in flags.items():
        if flag:
            values[name], sources[name] = flag, "flag"
        elif env.get(ENV_VARS[name]):
            values[name], sources[name] = env[ENV_VARS[name]], "env"
    missing = [name for name in flags if name not in values]
    if missing:
        file_path = path or config_path(env)
        from_file = load_file(file_path)
        for name in missing:
            if name in from_file:
                values[name], sources[name] = from_file[name], str(file_path)
    return Settings(sources=sources, **values)


__all__ = ["Settings", "ConfigFileError", "config_path", "load_file", "save_file", "resolve", "ENV_VARS", "CONFIG_ENV"]
