"""The local server's object detection models: the learner (``learner.py``: HOG detectors trained on a CPU).

Importing this package is light; ``learner`` imports dlib and NumPy when it is imported itself.
"""
