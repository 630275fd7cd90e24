"""Multi-label classification on the SDK's side: reading the labels of images (``labels``), the typed
results of the API (``types``), scoring predictions against true labels (``evaluate``) and the HTML
report of an evaluation (``report``). Import the modules themselves; this package imports nothing."""
