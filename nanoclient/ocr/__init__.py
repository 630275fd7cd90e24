"""OCR in the SDK: its resource (``_resource.py``: ``client.ocr``), result types (``types.py``), what a field's
text means (``values.py``: amounts and dates), scoring answers against annotations (``evaluate.py``) and the
HTML report of an evaluation (``report.py``). Importing this package imports none of them."""
