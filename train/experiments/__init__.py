"""Every checked-in experiment; importing this package registers them all."""

from liveri.train.experiments import (  # noqa: F401
    distill,
    image,
    multitask,
    speech,
    text,
    translation,
)
