"""Every checked-in experiment; importing this package registers them all."""

from liveri.train.experiments import distill, image, speech, text  # noqa: F401
