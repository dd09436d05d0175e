"""Liveri: from research to production on TensorFlow 2.

The core every stage shares: hyperparameters (`params`), the experiment registry (`registry`),
the on-disk names (`layout`) and the command line (`cli`). Importing it never imports TensorFlow.
"""

__version__ = "0.1.0"
