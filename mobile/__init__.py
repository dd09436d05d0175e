"""Liveri mobile stage: pack one TFLite artifact into a bundle, and run bundles on LiteRT.

`from liveri.mobile import Bundle` is the on-device API; it needs LiteRT and numpy, never
TensorFlow (nor train/ or export/).
"""

from liveri.mobile.bundle import Bundle, BundleError, ChecksumMismatch, InputError

__all__ = ["Bundle", "BundleError", "ChecksumMismatch", "InputError"]
