"""Commands about models and settings: ``create-model``, ``models``, ``config``."""
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..._env import mask_key
from .._framework import CliUsageError, State, _as_path, api_command, cli, info

if TYPE_CHECKING:
    from pathlib import Path


# --------------------------------------------------------------------------- create-model


@api_command(cli, "create-model")
@click.argument("categories", nargs=-1, metavar="[CATEGORY]...")
@click.option("--from-dir", "from_dir", type=click.Path(exists=True, file_okay=False), callback=_as_path,
              help="Use the sub-folder names of DIR (or of DIR/train) as the categories.", metavar="DIR")
def create_model(state: State, categories: tuple[str, ...], from_dir: Path | None) -> None:
    """Create a model from category names or from folder names.

    The categories (two or more) are the CATEGORY arguments, or the sub-folder names of
    --from-dir: of DIR/train when DIR's only sub-folders are train/ and test/, else of DIR.
    Names lose surrounding spaces, as upload and evaluate read folder names. Prints the new
    model id on stderr and the line to export it on stdout, quoted for the shell, so that
    `eval` can pick it up.

    \b
    Examples:
      nanoclient create-model Bag Coat Dress
      eval "$(nanoclient create-model --from-dir images)"
    """
    import shlex

    from ...images import category_folders, category_name

    if from_dir is not None and categories:
        raise CliUsageError("give category names or --from-dir, not both")
    if from_dir is not None:
        names = [name for name, _ in category_folders(from_dir)]
        if not names:
            raise CliUsageError(f"{from_dir} has no sub-folders to use as categories")
    else:
        names = [category_name(name) for name in categories]
    if not names:
        raise CliUsageError("no categories: name them (nanoclient create-model Bag Coat) or pass --from-dir DIR")
    if len(names) < 2:
        given = f"{from_dir} has one sub-folder" if from_dir is not None else "one was given"
        raise CliUsageError(f"a model needs at least two categories, but {given} ({names[0]})")
    model = state.client().create_model(names)
    info(f"created model {model.id} with {len(model.categories)} categories: "
         + ", ".join(c.name for c in model.categories))
    state.emit(model.to_json(), f"export NANONETS_MODEL_ID={shlex.quote(model.id)}")


# --------------------------------------------------------------------------- models / config


@api_command(cli)
def models(state: State) -> None:
    """List the models of the account.

    \b
    Examples:
      nanoclient models
      nanoclient models --json
    """
    found = state.client().list_models()
    if not found:
        info("no models yet: create one with `nanoclient create-model`")
    lines = []
    for model in found:
        accuracy = f"{model.accuracy:.3f}" if model.accuracy is not None else "-"
        names = ", ".join(c.name for c in model.categories)
        if model.type == "ocr":  # its counts are documents per field
            count = f"{len(model.categories):>6} fields"
            names = "OCR: " + ", ".join(f"{c.name} ({c.count} docs)" for c in model.categories)
        else:
            count = f"{model.image_count:>6} images"
        lines.append(f"{model.id}  {model.state_name:<17}  {count}  accuracy {accuracy:<5}  {names}")
    state.emit([m.to_json() for m in found], "\n".join(lines) if lines else None)


@api_command(cli, "config")
@click.option("--save", is_flag=True, help="Write the key, base URL and model id in use into the config file.")
def config_command(state: State, save: bool) -> None:
    """Show or save the settings in use.

    Shows the API key (masked), base URL and model id, and where each comes from;
    --save writes them into the config file.
    The config file is config.ini in the user's config folder, or the file named by
    NANOCLIENT_CONFIG; options win over the environment, which wins over the file.

    \b
    Examples:
      nanoclient config
      nanoclient --api-key MY-KEY --base-url http://127.0.0.1:8765/api/v2 config --save
    """
    from ... import config

    path = config.config_path()
    settings = state.settings
    values = {"api_key": settings.api_key, "base_url": settings.base_url, "model_id": settings.model_id}
    if save:
        config.save_file(path, {k: v for k, v in values.items() if v})
        info(f"saved to {path}")
        state._settings = None  # sources changed: the file now holds these values
        settings = state.settings
    shown = dict(values, api_key=mask_key(settings.api_key) if settings.api_key else None)
    result = {"config_file": str(path), **shown, "sources": settings.sources}
    text = [f"config file: {path}"]
    text += [f"{name:<9} {shown[name] or '(not set)'}" + (f"  from {settings.source_of(name)}" if shown[name] else "")
             for name in config.ENV_VARS]
    state.emit(result, "\n".join(text))


