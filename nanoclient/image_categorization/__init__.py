"""Image Categorization in the SDK: its resource (``_resource.py``: ``client.image_categorization``, whose
methods are also the client's own), scoring predictions against labelled folders (``evaluate.py``) and the
HTML report of an evaluation (``report.py``). Importing this package imports none of them."""
