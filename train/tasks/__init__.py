"""Tasks: a model's layers plus its loss, metrics and decoding."""
