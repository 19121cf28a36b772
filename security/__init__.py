"""Steganalysis of InvMIHNet stego images: cover/stego pairs, rich-model and targeted detectors, a CNN, the
report. ``steganalysis.py`` is the command line; :func:`security.evaluation.run_steganalysis` the entry point."""
