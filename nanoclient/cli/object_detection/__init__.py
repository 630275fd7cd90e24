"""``nanoclient detection ...``: the object detection workflow (create-model, upload, train, status, predict,
evaluate).

Commands only format: they call ``client.object_detection`` and print; the long runs (upload, predict,
evaluate) live in ``_run``, imported when they run. The group is one of ``LAZY_COMMANDS``: this module is
imported only when ``nanoclient detection`` runs, so that ``nanoclient --help`` stays fast.
"""
from __future__ import annotations

from pathlib import Path

import click

from .._framework import (
    CONTEXT_SETTINGS,
    CliFailure,
    CliUsageError,
    Interrupted,
    State,
    _as_path,
    api_command,
    global_options,
    info,
)


@click.group(context_settings=CONTEXT_SETTINGS)
def detection() -> None:
    """Object detection models: find objects (cars, bottles, clocks) and their boxes in images.

    \b
    The whole workflow, against a local server:
      eval "$(nanoclient detection create-model --from-dir images/detection)"
      nanoclient detection upload images/detection
      nanoclient detection train --wait
      nanoclient detection predict images/detection/test --output found.jsonl
      nanoclient detection evaluate images/detection --report detection-report.html

    Images are PNG or JPEG files; their boxes sit beside them, matched by file name: a Pascal VOC .xml per
    image, the API's JSON, COCO JSON, CSV (file,field,xmin,ymin,xmax,ymax) or YOLO .txt with classes.txt.
    """


detection.params.extend(global_options(on_group=False))

_wait_timeout = click.option("--wait-timeout", "timeout", type=click.FloatRange(min=0, min_open=True),
                             default=3600.0, show_default=True, metavar="S",
                             help="With --wait: give up after S seconds (exit 1).")
_poll_interval = click.option("--poll-interval", type=click.FloatRange(min=0, min_open=True), default=2.0,
                              show_default=True, metavar="S", help="With --wait: seconds between status checks.")


def _wait(state: State, model_id: str, timeout: float, poll_interval: float) -> object:
    """Wait for training to end, naming each state on stderr (Ctrl-C: exit 130)."""
    from ...errors import TrainingTimeoutError
    from ...types import Model

    def show(model: Model) -> None:
        info(f"state {model.state} ({model.state_name})" + (f": {model.status}" if model.status else ""))

    again = "nanoclient detection status --wait"
    try:
        return state.client().object_detection.wait_until_trained(model_id, timeout=timeout,
                                                                  poll_interval=poll_interval, on_update=show)
    except KeyboardInterrupt as exc:
        raise Interrupted(f"model {model_id} goes on training on the server; wait for it again with `{again}`") \
            from exc
    except TrainingTimeoutError as exc:
        raise CliFailure(f"training did not finish within {timeout:g} s; check again with `{again}`") from exc


def _show(state: State, model: object) -> None:
    """The model's state, its held-out mAP@0.5 and the images each category is labelled in."""
    from ...types import Model

    assert isinstance(model, Model)
    lines = [f"model {model.id}: {model.state_name}" + (f" ({model.status})" if model.status else "")]
    if model.accuracy is not None:
        measured = f": {model.accuracy_images} images" if model.accuracy_images is not None else ""
        lines.append(f"  mAP@0.5     {model.accuracy:.3f}  (held out by the server{measured})")
    if model.categories:  # an image counts for every category labelled in it: the counts do not add up
        width = max(len(c.name) for c in model.categories)
        lines.append(f"  categories  {len(model.categories)}, each with the images in which it is labelled")
        lines.extend(f"    {c.name:<{width}}  {c.count}" for c in model.categories)
    state.emit({"model": model.to_json()}, "\n".join(lines))


@api_command(detection, "create-model")
@click.argument("categories", nargs=-1, metavar="[CATEGORY]...")
@click.option("--categories", "listed", metavar="A,B,...", help="The categories, comma-separated (or as arguments).")
@click.option("--from-dir", "from_dir", type=click.Path(exists=True, file_okay=False), callback=_as_path,
              metavar="DIR", help="Use the categories named by the annotations in DIR (or DIR/train).")
def create_model(state: State, categories: tuple[str, ...], listed: str | None, from_dir: Path | None) -> None:
    """Create an object detection model from category names or from a folder's annotations.

    Prints the new model id on stderr and the line to export it on stdout, for `eval`.

    \b
    Examples:
      nanoclient detection create-model car bottle clock
      eval "$(nanoclient detection create-model --from-dir images/detection)"
    """
    import shlex

    names = [*categories, *(name.strip() for name in (listed or "").split(",") if name.strip())]
    if from_dir is not None and names:
        raise CliUsageError("give category names or --from-dir, not both")
    if from_dir is not None:
        from ...object_detection.dataset import labelled_images, training_root

        pairs, _ = labelled_images(training_root(from_dir))
        names = sorted({box.field for _, annotation in pairs for box in annotation.boxes})
        if not names:
            raise CliUsageError(f"no labelled box in {from_dir}: label some, or name the categories")
    if not names:
        raise CliUsageError("no categories: name them (nanoclient detection create-model car person) or pass "
                            "--from-dir DIR")
    model = state.client().object_detection.create_model(names)
    info(f"created object detection model {model.id} with {len(model.categories)} "
         f"{'category' if len(model.categories) == 1 else 'categories'}: "
         + ", ".join(c.name for c in model.categories))
    state.emit(model.to_json(), f"export NANONETS_MODEL_ID={shlex.quote(model.id)}")


@api_command(detection)
@click.argument("folder", type=click.Path(exists=True, file_okay=False), callback=_as_path)
@click.option("--annotations", "annotation_file", type=click.Path(exists=True, dir_okay=False), callback=_as_path,
              metavar="FILE", help="One annotation file (JSON, COCO, CSV) for the folder's images, instead of the "
                                   "files beside them.")
@click.option("--batch-size", type=click.IntRange(1, 50), default=10, show_default=True, help="Images per request.")
@click.option("--workers", type=click.IntRange(1, 16), default=4, show_default=True, help="Requests at once.")
@click.option("--dry-run", is_flag=True, help="Only check the images and annotations; send nothing.")
@click.option("--wait-lock", is_flag=True,
              help="If another upload to the model runs on this machine, wait for it instead of exiting 1.")
def upload(state: State, folder: Path, annotation_file: Path | None, batch_size: int, workers: int, dry_run: bool,
           wait_lock: bool) -> None:
    """Upload a folder's images (FOLDER/train if it has one) with their boxes.

    Each image goes exactly once: images the model already lists are not sent again, so an interrupted
    upload resumes when run again. A bad image or annotation costs that file only (named on stderr, exit 1
    at the end); each image's outcome is named by its path.

    \b
    Examples:
      nanoclient detection upload images/detection
      nanoclient detection upload photos/ --annotations labels.csv
    """
    from ._run import upload_folder

    upload_folder(state, folder, annotation_file=annotation_file, batch_size=batch_size, workers=workers,
                  dry_run=dry_run, wait_lock=wait_lock)


@api_command(detection)
@click.option("--wait", is_flag=True, help="Wait until training ends, showing each state change.")
@_wait_timeout
@_poll_interval
def train(state: State, wait: bool, timeout: float, poll_interval: float) -> None:
    """Train the object detection model (--wait to wait until it is trained).

    \b
    Examples:
      nanoclient detection train --wait
    """
    model_id = state.model_id()
    model = state.client().object_detection.train(model_id)
    info(f"training object detection model {model_id}: {model.state_name}")
    _show(state, _wait(state, model_id, timeout, poll_interval) if wait else model)


@api_command(detection)
@click.option("--wait", is_flag=True, help="If the model is queued or training, wait until that ends.")
@_wait_timeout
@_poll_interval
def status(state: State, wait: bool, timeout: float, poll_interval: float) -> None:
    """Show the object detection model's state, images per category and held-out mAP@0.5.

    \b
    Examples:
      nanoclient detection status --wait
    """
    from ...types import STATE_QUEUED, STATE_TRAINING

    model_id = state.model_id()
    model = state.client().object_detection.get_model(model_id)
    if wait and model.state in (STATE_QUEUED, STATE_TRAINING):
        _show(state, _wait(state, model_id, timeout, poll_interval))
        return
    _show(state, model)


@api_command(detection)
@click.argument("paths", nargs=-1, required=True, type=click.Path(), callback=_as_path)
@click.option("--output", type=click.Path(dir_okay=False), callback=_as_path, metavar="FILE",
              help="Write one JSON line per image ({file, objects: [{label, xmin, ymin, xmax, ymax, score}]}) as "
                   "each is answered; run again to go on where it stopped.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Show (and write) the objects scored at least this.")
@click.option("--batch-size", type=click.IntRange(1, 50), default=10, show_default=True, help="Images per request.")
@click.option("--workers", type=click.IntRange(1, 16), default=4, show_default=True, help="Requests at once.")
def predict(state: State, paths: tuple[Path, ...], output: Path | None, threshold: float, batch_size: int,
            workers: int) -> None:
    """Find the objects in images (files or folders of PNG, JPEG).

    Prints one line per object (file, label, box, score), or writes them to --output.

    \b
    Examples:
      nanoclient detection predict street.jpg
      nanoclient detection predict images/detection/test --output found.jsonl
    """
    from ._run import predict_images

    predict_images(state, list(paths), output=output, threshold=threshold, batch_size=batch_size, workers=workers)


@api_command(detection)
@click.argument("folder", type=click.Path(exists=True, file_okay=False), callback=_as_path)
@click.option("--report", type=click.Path(dir_okay=False), callback=_as_path, metavar="FILE",
              help="Write an HTML report: per-class scores, and each image drawn with its true and found boxes, "
                   "errors first.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="The score at which the count error, precision, recall and each image's errors are taken.")
@click.option("--workers", type=click.IntRange(1, 16), default=4, show_default=True, help="Requests at once.")
def evaluate(state: State, folder: Path, report: Path | None, threshold: float, workers: int) -> None:
    """Measure the model on annotated images (FOLDER/test if it has one): AP at IoU 0.5 per class, mAP@0.5,
    COCO mAP@[.5:.95], and the count error per image at the --threshold.

    \b
    Examples:
      nanoclient detection evaluate images/detection --report detection-report.html
    """
    from ._run import evaluate_folder

    evaluate_folder(state, folder, report=report, threshold=threshold, workers=workers)
