"""Format placeholders in UI messages, and the protected tokens that stand for them.

A translated message is only correct if every placeholder comes through byte for byte: `%s`
turned into `%S`, or `{0}` into `{null}`, breaks the program that prints it. So placeholders are
cut out before the model sees a message and put back after: the source's placeholders become
`⟦0⟧`, `⟦1⟧`, ... in order of appearance, the target reuses the source's numbers (German may
reorder them), and `restore` maps each number back to its text.

One pattern finds them, tried left to right at each position:
- literals first: `%%` (a percent sign) and `{{`, `}}` (braces), so they never start a match;
- `%(name)s`: Python's named %-format, with flags, width, precision and `l`/`h`;
- printf: `%[N$][flags][width][.precision][length]conversion`, flags `-+#0'` and widths `*`
  or `*N$` (`%1$s`, `%-10s`, `%.250s`, `%.*s`, `%lu`, `%zu`, `%m`). The space flag is left
  out: in prose `100% of` and `% used` would read as conversions, and no catalogue uses it;
- braces: `{}`, `{0}`, `{name}` with an optional `!r` and `:spec` (str.format);
- shell: `$NAME` and `${NAME}`. git's shell scripts substitute them at run time (eval_gettext)
  and elsewhere they name environment variables ($HOME, $PATH), which must not be translated.

The patterns are ASCII-only (`re.ASCII`): they mean the same in TensorFlow's RE2, so the
SavedModel protects and restores in its graph (`liveri.train.input.placeholders_tf`) exactly as
devices do here. This module is core: the translation kind runs it with no TensorFlow.
"""

from __future__ import annotations

import re
from collections import Counter

_LITERAL = r"%%|\{\{|\}\}"
_NAMED = r"%\([A-Za-z_]\w*\)[-+#0]*\d*(?:\.\d+)?[lh]?[diouxXeEfFgGcrsa]"
_STAR = r"\*(?:\d+\$)?"
_PRINTF = (rf"%(?:\d+\$)?[-+#0']*(?:\d+|{_STAR})?(?:\.(?:\d+|{_STAR})?)?"
           r"(?:hh|h|ll|l|L|q|j|z|Z|t)?[diouxXeEfFgGaAcCsSpnm]")
_BRACE = r"\{(?:\d+|[A-Za-z_]\w*)?(?:![rsa])?(?::[^{}]*)?\}"
_SHELL = r"\$\{[A-Za-z_]\w*\}|\$[A-Za-z_]\w*"
PLACEHOLDER_ONLY_PATTERN = f"{_NAMED}|{_PRINTF}|{_BRACE}|{_SHELL}"
PLACEHOLDER_PATTERN = f"(?P<literal>{_LITERAL})|(?P<placeholder>{PLACEHOLDER_ONLY_PATTERN})"
PLACEHOLDER_RE = re.compile(PLACEHOLDER_PATTERN, re.ASCII)
TOKEN_PATTERN = "⟦([0-9]+)⟧"
TOKEN_RE = re.compile(TOKEN_PATTERN)


def placeholders(text: str) -> list[str]:
    """The placeholders of `text`, in order of appearance (`%%` and `{{` are not placeholders)."""
    return [m["placeholder"] for m in PLACEHOLDER_RE.finditer(text) if m["placeholder"]]


def same_placeholders(source: str, target: str) -> bool:
    """Whether a translation keeps exactly the source's placeholders, in any order."""
    return Counter(placeholders(source)) == Counter(placeholders(target))


def token(index: int) -> str:
    return f"⟦{index}⟧"


def token_piece_ids(vocab: list[str]) -> list[int]:
    """Ids of the vocab pieces that spell placeholder tokens (`⟦3⟧`, or a bare `⟦` or `⟧` for
    a number the vocab lacks): a translation must hold each exactly as often as its source
    does, which beam search enforces (`copy_ids`)."""
    return [i for i, piece in enumerate(vocab) if "⟦" in piece or "⟧" in piece]


def protect(text: str, order: list[str] | None = None) -> tuple[str, list[str]]:
    """`text` with each placeholder replaced by its token, and the placeholders by token number.

    Without `order` (a source), tokens are numbered in order of appearance. With `order` (the
    source's placeholders, for its translation), each placeholder takes the number of the first
    unused equal placeholder there, so a reordered translation keeps the source's numbers.
    Raises ValueError for a placeholder that `order` does not have (left).
    """
    numbered = list(order) if order is not None else []
    unused = list(range(len(numbered)))

    def replace(match: re.Match) -> str:
        found = match["placeholder"]
        if not found:
            return match[0]
        if order is None:
            numbered.append(found)
            return token(len(numbered) - 1)
        for i in unused:
            if numbered[i] == found:
                unused.remove(i)
                return token(i)
        raise ValueError(f"placeholder {found!r} in {text!r} is not among the source's "
                         f"unused placeholders {[numbered[i] for i in unused]}")

    return PLACEHOLDER_RE.sub(replace, text), numbered


def restore(text: str, numbered: list[str]) -> str:
    """`text` with each token `⟦i⟧` replaced by `numbered[i]`: the inverse of `protect`.

    A token with no placeholder (a model that invented one) is dropped: a served translation
    must never show a token, and inventing a placeholder would break the program printing it.
    """
    def replace(match: re.Match) -> str:
        index = int(match[1])
        return numbered[index] if index < len(numbered) else ""

    return TOKEN_RE.sub(replace, text)
