"""Every checked-in experiment; importing this package registers them all."""

from liveri.train.experiments import distill, image, multitask, speech, text  # noqa: F401
