"""`protect` and `restore` of `liveri.placeholders` in the TF graph, with stock string ops only,
so the exported SavedModel takes raw messages and answers raw translations (stock TF Serving
loads it: no custom op library). Tested equal to the numpy rules on the held-out corpus.

Both cut a string around every match of one pattern (regex_replace with a marker on each side,
then split), decide per segment whether it is a placeholder (a token), and join the segments back.
"""

from __future__ import annotations

from typing import Any

from liveri.lazy import tf
from liveri.placeholders import PLACEHOLDER_ONLY_PATTERN, PLACEHOLDER_PATTERN, TOKEN_PATTERN
from liveri.tokenization import CUT

# RE2 has no named groups with Python's `(?P<name>` spelled differently: it does accept them,
# but `(?:` is all that is needed here (which alternative matched is decided per segment).
_ANY_PLACEHOLDER = PLACEHOLDER_PATTERN.replace("(?P<literal>", "(?:").replace(
    "(?P<placeholder>", "(?:")


def _segments(strings: Any, pattern: str) -> Any:
    """strings [N] -> RaggedTensor [N, (S)]: the text between matches, and each match alone."""
    return tf.strings.split(tf.strings.regex_replace(strings, pattern, CUT + r"\0" + CUT), CUT)


def _index_in_row(flags: Any) -> Any:
    """For a ragged bool [N, (S)], each element's count of True elements before it in its row."""
    flat = tf.cast(flags.flat_values, tf.int32)
    before = tf.cumsum(flat, exclusive=True)
    row_first = tf.gather(before, flags.row_starts())
    return flags.with_flat_values(before - tf.gather(row_first, flags.value_rowids()))


def protect_tf(strings: Any) -> tuple[Any, Any]:
    """strings [N] -> (protected [N]: placeholders as `⟦i⟧` in order of appearance,
    placeholders RaggedTensor [N, (P)] by number)."""
    segments = _segments(strings, _ANY_PLACEHOLDER)
    is_placeholder = tf.strings.regex_full_match(segments, f"(?:{PLACEHOLDER_ONLY_PATTERN})")
    number = tf.strings.as_string(_index_in_row(is_placeholder).flat_values)
    tokens = tf.strings.join(["⟦", number, "⟧"])
    protected = segments.with_flat_values(
        tf.where(is_placeholder.flat_values, tokens, segments.flat_values))
    return (tf.strings.reduce_join(protected, axis=1),
            tf.ragged.boolean_mask(segments, is_placeholder))


def restore_tf(strings: Any, numbered: Any) -> Any:
    """strings [N] with each `⟦i⟧` replaced by numbered[n, i] (RaggedTensor [N, (P)]); a token
    with no placeholder is dropped, as `restore` does."""
    segments = _segments(strings, TOKEN_PATTERN)
    flat = segments.flat_values
    is_token = tf.strings.regex_full_match(flat, TOKEN_PATTERN)
    digits = tf.strings.regex_replace(flat, "[^0-9]", "")
    # Numbers too long to be an index (any of 9 or more digits) are out of range too.
    short = tf.strings.length(digits) < 9
    index = tf.strings.to_number(tf.where(is_token & short, digits, "0"), tf.int32)
    rows = segments.value_rowids()
    count = tf.cast(tf.gather(numbered.row_lengths(), rows), tf.int32)
    known = is_token & short & (index < count)
    at = tf.gather(tf.cast(numbered.row_starts(), tf.int32), rows) + tf.where(known, index, 0)
    values = tf.concat([numbered.flat_values, [""]], 0)  # [""]: a safe target for unknowns
    found = tf.gather(values, tf.where(known, at, tf.size(numbered.flat_values)))
    restored = tf.where(known, found, tf.where(is_token, "", flat))
    return tf.strings.reduce_join(segments.with_flat_values(restored), axis=1)
