"""Inference: the :class:`~inference.stego_model.StegoModel` that hides and reveals, the round trip through the
8-bit PNG, and the evaluation of test sets built on it. Nothing here imports the trainer or the data loaders."""
