"""The local server's object detection models: images with labelled boxes, training a detector, finding objects.

``DetectionModels`` is the detection part of the domain, over the backend's accounts, store, training queue,
URL fetching and limits: it registers its training with the backend's queue (``Backend.register_type``) and
keeps its models in the shared tables, with its categories (the classes) as the model's categories and its
training images in ``documents``, each with its boxes as the JSON list ``[{"name", "bndbox": {"xmin", "ymin",
"xmax", "ymax"}}]``. A category counts the images in which it is labelled. The learner is ``learner.py``
(imported when a model trains or predicts). Like ``Backend``, it knows nothing of HTTP or SQL, and raises the
shared errors of ``nanoclient.errors``.
"""
from __future__ import annotations

import io
import json
import logging
import math
import os
import threading
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...errors import BadRequestError, ModelNotTrainedError, NotFoundError
from ...types import Model
from ..annotated import objects_by_file
from ..backend import Account, Backend, NamedBytes, url_errors
from ..store import DocumentRecord, ModelRecord, RunRecord
from . import TYPE
from .fit import TrueBox

if TYPE_CHECKING:
    from .learner import Detector

log = logging.getLogger("nanoclient.server")

#: The model type of detection models, as the API names it.
DETECTION_TYPE = TYPE.name
#: Files per upload or prediction request.
FILES_MAX = 50
#: A category's name: at most this many characters.
#: Boxes an image may carry.
BOXES_MAX = 500


@dataclass(frozen=True)
class ImageDetections:
    """The objects found in one input (a file name or a URL), or why it could not be read."""

    input: str
    objects: tuple[dict[str, object], ...] = ()
    message: str = "Success"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> dict[str, Any]:
        """The entry of ``result`` in a prediction answer."""
        return {"message": self.message, "id": self.id, "input": self.input, "prediction": list(self.objects)}


class DetectionModels:
    """Object detection models over a ``Backend``'s accounts, store, queue and fetcher."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store
        #: Loaded detectors by model: (run id, detector, the lock its use needs: dlib's are not thread-safe).
        self._detectors: OrderedDict[str, tuple[int, Detector, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()
        backend.register_type(DETECTION_TYPE, train=self._train_run, describe=self._describe)

    # ------------------------------------------------------------------ models

    def create_model(self, account: Account, categories: Sequence[str]) -> Model:
        """Create a detection model that finds objects of these categories (non-empty, distinct names)."""
        names = self.backend.names(categories, hint='Send JSON {"categories": ["car", "person"]}')
        model_id = str(uuid.uuid4())
        self.store.insert_model(model_id, account.id, names, model_type=DETECTION_TYPE)
        return self.get_model(account, model_id)

    def get_model(self, account: Account, model_id: str | None) -> Model:
        """The detection model; NotFoundError if the account has none with that id (or it is of another type)."""
        return self._describe(self._record(account, model_id))

    def annotations(self, account: Account, model_id: str | None) -> tuple[Model, list[DocumentRecord]]:
        """The model and every training image it holds with its boxes, oldest first."""
        record = self._record(account, model_id)
        return self._describe(record), self.store.documents(record.id)

    def _record(self, account: Account, model_id: str | None) -> ModelRecord:
        return self.backend.record(account, model_id, DETECTION_TYPE)

    def _describe(self, record: ModelRecord) -> Model:
        return self.backend.describe(record, items="images", label="category")

    # ------------------------------------------------------------------ training images

    def upload(self, account: Account, model_id: str | None, files: Sequence[NamedBytes],
               data: object) -> tuple[Model, list[DocumentRecord]]:
        """Add images with their boxes (``data``: the API's list, one entry per file, by file name; a file
        without an entry has no boxes): all of them, or none if any file or box is wrong. Return the model
        and the request's images."""
        record = self._record(account, model_id)
        if not files:
            raise BadRequestError("Missing file", hint="Send one or more PNG or JPEG images as 'file' parts")
        if len(files) > FILES_MAX:
            raise BadRequestError(f"Too many files ({len(files)})", hint=f"Send at most {FILES_MAX} per request")
        names = [name for name, _ in files]
        twice = next((name for name in names if names.count(name) > 1), None)
        if twice is not None:
            raise BadRequestError(f"Two files are called {twice!r}", hint="Give each file part its own name: "
                                  "boxes are matched to files by name")
        by_name = annotations_by_file(data, names)
        self.backend.check_images(files)
        items = []
        for name, content in files:
            boxes = check_boxes(name, by_name.get(name, []), record.categories, image_size(content))
            items.append((content, name, boxes))
        shas = self.store.put_images([content for content, _, _ in items])
        rows = [(sha, name[:500], json.dumps(boxes), sorted({str(b["name"]) for b in boxes}))
                for sha, (_, name, boxes) in zip(shas, items, strict=True)]
        ids, stored = self.store.add_documents_and_read(account.id, record.id, rows, dedupe=self.backend.dedupe)
        if stored is None:  # pragma: no cover - models are never deleted
            raise NotFoundError("Model does not exist", hint="Check that the model id is correct")
        documents = {doc.id: doc for doc in self.store.documents(record.id)}
        return self._describe(stored), [documents[i] for i in dict.fromkeys(ids)]

    def upload_urls(self, account: Account, model_id: str | None, urls: Sequence[str],
                    data: object) -> tuple[Model, list[DocumentRecord], list[tuple[str, str]]]:
        """Fetch images by URL and add those that worked with their boxes (named by URL); return (model, the
        images added, [(url, why it failed)]). BadRequestError if none worked."""
        self._record(account, model_id)
        cleaned = self.backend.check_urls(urls)
        annotations = annotations_by_file(data, cleaned)  # checked before fetching
        fetched, failed = self.backend.fetch_all(cleaned, self.backend.check_image)
        if not fetched:
            raise BadRequestError("None of the URLs gave a PNG or JPEG image", errors=url_errors(failed))
        kept = [{"filename": url, "object": annotations[url]} for url, _ in fetched if url in annotations]
        model, documents = self.upload(account, model_id, fetched, kept)
        return model, documents, failed

    # ------------------------------------------------------------------ training

    def train(self, account: Account, model_id: str | None) -> Model:
        """Queue the model for training (answered at once); BadRequestError if a category lacks images."""
        record = self._record(account, model_id)
        short = [name for name in record.categories if record.counts[name] < self.backend.min_images]
        if short:
            raise BadRequestError("Model is not ready to train", hint="Label each category in at least {} images; "
                                  "short: {}".format(self.backend.min_images,
                                                     ", ".join(f"{n} ({record.counts[n]})" for n in short)))
        return self.backend.queue_training(account, record.id, describe=self._describe)

    def _train_run(self, run: RunRecord, record: ModelRecord) -> None:
        """Train the detector on the model's images (called by the backend's training worker), in a child
        process when the backend says (``child.py``), after measuring its mAP@0.5 on held-out images
        (``fit``)."""
        documents = self.store.documents(run.model_id, run.last_image_id)
        paths = [self.store.image_path(doc.sha256) for doc in documents]
        boxes = [_labelled_boxes(doc) for doc in documents]
        labels = list(record.categories)
        name = f"{run.id}.detector"
        target = self.store.classifier_path(name)
        aside = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")  # a reader never sees half a file

        def say(text: str) -> None:
            self.store.set_run_status(run.id, text)

        detector = None
        try:
            if self.backend.train_in_child:
                from .child import train_in_child

                accuracy, measured_on = train_in_child(paths, boxes, labels, aside, say=say)
            else:
                from .fit import fit

                detector, accuracy, measured_on = fit([path.read_bytes() for path in paths], boxes, labels,
                                                      say=say, threads=_threads())
                detector.save(aside)
            os.replace(aside, target)
        finally:
            aside.unlink(missing_ok=True)
        status = "Model trained" + (f" (held-out mAP@0.5 {accuracy:.3f} on {measured_on} images)"
                                    if accuracy is not None else "")
        self.store.finish_run(run.id, accuracy=accuracy, accuracy_images=measured_on if accuracy is not None else None,
                              classifier=name, status=status)
        if detector is not None:
            with self._lock:
                self._detectors[run.model_id] = (run.id, detector, threading.Lock())
                self._trim()
        log.info("detection model %s trained on %d images (held-out mAP@0.5 %s on %d)", run.model_id, len(paths),
                 "n/a" if accuracy is None else f"{accuracy:.3f}", measured_on)

    def _detector(self, record: ModelRecord) -> tuple[Detector, threading.Lock]:
        done = record.done_run
        if done is None or not done.classifier:
            raise ModelNotTrainedError("Model is not trained yet",
                                       hint="Call Train and wait until the model's state is 5")
        with self._lock:
            known = self._detectors.get(record.id)
            if known is not None and known[0] == done.id:
                self._detectors.move_to_end(record.id)
                return known[1], known[2]
        from .learner import Detector

        detector = Detector.load(self.store.classifier_path(done.classifier))
        with self._lock:
            self._detectors[record.id] = (done.id, detector, threading.Lock())
            self._trim()
            return detector, self._detectors[record.id][2]

    def _trim(self) -> None:
        while len(self._detectors) > self.backend.classifier_cache:
            self._detectors.popitem(last=False)

    # ------------------------------------------------------------------ predictions

    def predict(self, account: Account, model_id: str | None, files: Sequence[NamedBytes]) -> list[ImageDetections]:
        """The objects found in each image, in input order (every detection down to the learner's least
        score: a caller picks its threshold, and AP needs the low scores)."""
        record = self._record(account, model_id)
        detector, lock = self._detector(record)
        if not files:
            raise BadRequestError("Missing file", hint="Send one or more PNG or JPEG images as 'file' parts")
        if len(files) > FILES_MAX:
            raise BadRequestError(f"Too many files ({len(files)})", hint=f"Send at most {FILES_MAX} per request")
        self.backend.check_images(files)
        results = []
        for name, content in files:
            with lock:
                found = detector.detect(content)
            results.append(ImageDetections(name, tuple(d.to_json() for d in found)))
        return results

    def predict_urls(self, account: Account, model_id: str | None,
                     urls: Sequence[str]) -> tuple[list[ImageDetections], int]:
        """Predict images by URL: one entry per URL in URL order (a URL that failed: its entry says why), and
        how many failed. BadRequestError if none could be fetched."""
        record = self._record(account, model_id)
        self._detector(record)
        cleaned = self.backend.check_urls(urls)
        fetched, failed = self.backend.fetch_all(cleaned, self.backend.check_image)
        if not fetched:
            raise BadRequestError("None of the URLs gave a PNG or JPEG image", errors=url_errors(failed))
        found = {result.input: result for result in self.predict(account, model_id, fetched)}
        reasons = dict(failed)
        return [found[url] if url in found else ImageDetections(url, (), f"Failed: {reasons.get(url, 'not fetched')}")
                for url in dict.fromkeys(cleaned)], len(failed)


# ---------------------------------------------------------------------- helpers


def _threads() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def _labelled_boxes(document: DocumentRecord) -> list[TrueBox]:
    return [(str(b["name"]), int(b["bndbox"]["xmin"]), int(b["bndbox"]["ymin"]), int(b["bndbox"]["xmax"]),
             int(b["bndbox"]["ymax"])) for b in json.loads(document.annotation)]


def image_size(content: bytes) -> tuple[int, int]:
    """An image's (width, height) as it is shown: sides swapped for the EXIF orientations that turn it."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the backend's check bounds the pixels
        with Image.open(io.BytesIO(content)) as image:
            width, height = int(image.width), int(image.height)
            turned = image.getexif().get(0x0112) in (5, 6, 7, 8)
    return (height, width) if turned else (width, height)


def annotations_by_file(data: object, names: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
    """The annotation ``data`` by file name (``annotated.objects_by_file``), at most BOXES_MAX boxes a file."""
    return objects_by_file(data, names, box='{"name", "bndbox": {"xmin", "ymin", "xmax", "ymax"}}', most=BOXES_MAX)


def check_boxes(name: str, objects: Sequence[Mapping[str, Any]], categories: Sequence[str],
                size: tuple[int, int]) -> list[dict[str, Any]]:
    """The boxes of one image in the stored form ``{"name", "bndbox"}`` (coordinates rounded outwards to whole
    pixels); BadRequestError naming the file and category for a box of no category of the model, without
    numeric coordinates, empty, or outside the image."""
    width, height = size
    boxes = []
    for item in objects:
        category = item.get("name")
        if category not in categories:
            raise BadRequestError(f"{name}: {category!r} is not a category of the model",
                                  hint="The model's categories are: " + ", ".join(categories))
        box = item.get("bndbox")
        if not isinstance(box, dict):
            raise BadRequestError(f"{name}: {category!r} has no bndbox", hint="Give xmin, ymin, xmax, ymax")
        try:
            low = [float(box[k]) for k in ("xmin", "ymin")]
            high = [float(box[k]) for k in ("xmax", "ymax")]
            if not all(math.isfinite(v) for v in (*low, *high)):
                raise ValueError("not finite")
            xmin, ymin = (math.floor(v) for v in low)
            xmax, ymax = (math.ceil(v) for v in high)
        except (KeyError, TypeError, ValueError):
            raise BadRequestError(f"{name}: {category!r} has a box without numeric xmin, ymin, xmax, ymax",
                                  hint="Give each coordinate as a number of pixels") from None
        if xmin >= xmax or ymin >= ymax:
            raise BadRequestError(f"{name}: {category!r} has an empty box ({xmin},{ymin})-({xmax},{ymax})",
                                  hint="xmin must be below xmax and ymin below ymax")
        if xmin < 0 or ymin < 0 or xmax > width or ymax > height:
            raise BadRequestError(f"{name}: {category!r}'s box ({xmin},{ymin})-({xmax},{ymax}) is outside the "
                                  f"image ({width} x {height})", hint="Give boxes in pixels of the image")
        boxes.append({"name": category, "bndbox": {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}})
    return boxes


__all__ = ["DETECTION_TYPE", "DetectionModels", "ImageDetections", "annotations_by_file", "check_boxes",
           "image_size"]
