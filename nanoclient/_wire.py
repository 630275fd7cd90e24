"""The wire facts the SDK and the local server share: where the API lives, its families of paths, the
local server's own headers, and the media types of images. Defined once here (the SDK does not import
the server package; the server imports these); standard library only, so ``--help`` may load it.

The dashboard (``server/dashboard/app.js``) is JavaScript and keeps its own copy of ``API_ROOT`` and
the Image Categorization prefix.
"""
from __future__ import annotations

#: Path prefix of the API; a base URL ends with it (``https://app.nanonets.com/api/v2``).
API_ROOT = "/api/v2"
#: Path prefix of the local server's own extension (its dashboard), outside the hosted API's paths.
LOCAL_ROOT = "/local/v1"

#: The families of paths below ``API_ROOT``, one per model type (the reference's tags).
IMAGE_CATEGORIZATION = "ImageCategorization"
OCR = "OCR"
OBJECT_DETECTION = "ObjectDetection"
MULTILABEL_CLASSIFICATION = "MultiLabelClassification"
#: The family of an OCR model's stored predictions (ImageLevelInferences).
INFERENCES = "Inferences"

#: Response header by which a server declares that it counts identical bytes uploaded to the same
#: model and category once (value ``DEDUPE_BY_SHA256``); the local server sends it unless
#: ``--no-dedupe``. A plain header, so that a proxy can strip it.
DEDUPE_HEADER = "Nanoclient-Dedupe"
#: The value of DEDUPE_HEADER: what identifies "identical bytes".
DEDUPE_BY_SHA256 = "sha256"
#: Response header by which the local server says what it is (value ``SERVER_LOCAL``), on every
#: response: the CLI stores an evaluation report only on a server that says so.
SERVER_HEADER = "Nanoclient-Server"
SERVER_LOCAL = "local"

#: The media type of each image format the API takes, by Pillow's name for it.
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}

__all__ = ["API_ROOT", "LOCAL_ROOT", "IMAGE_CATEGORIZATION", "OCR", "OBJECT_DETECTION", "INFERENCES", "DEDUPE_HEADER",
           "DEDUPE_BY_SHA256", "SERVER_HEADER", "SERVER_LOCAL", "MEDIA_TYPES"]
