"""Liveri: from research to production on TensorFlow 2.

The core every stage shares: hyperparameters (`params`), the exported version's contract
(`artifact`: the typed manifest and the format table), the on-disk names (`layout`), and the
numpy pre- and post-processing devices run. It imports no stage and never imports TensorFlow;
the command line lives above the stages, in `liveri.cli`.
"""

__version__ = "0.1.0"
