"""Every checked-in experiment; importing this package registers them all."""

from liveri.train.experiments import image, text  # noqa: F401
