"""The core every method stands on: the classifier, the model state, layer capture, images and baselines, argument checks, result files and progress bars. It imports no method and no view."""
