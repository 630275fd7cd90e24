"""Multi-label classification on the server's side: the learner (``learner``: the image classifier's
features with one logistic output and one threshold per label). No HTTP, no SQL; this package imports
nothing (NumPy and scikit-learn load with ``learner``)."""
