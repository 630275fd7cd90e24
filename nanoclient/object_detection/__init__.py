"""Object detection in the SDK: result types (``types.py``), evaluation (``evaluate.py``) and the HTML report
(``report.py``), none of which talks HTTP. Importing this package imports none of them.
"""
