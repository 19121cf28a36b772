"""The InvMIHNet networks (:mod:`models.invmihnet`), their configuration, checkpoints and model folders, and the
trainer (:mod:`models.trainer`). Importing this package imports none of its modules."""
