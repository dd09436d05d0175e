"""Turning fortune-file entries into clean English prose sentences.

Fortunes mix quotations, dialogues, poems, lists, ASCII art and code. The reference experiments
want ordinary sentences, so an entry keeps only its prose (attributions cut), and a sentence
survives only if it looks like one: capitalized, ended by . ! or ?, plain ASCII, few symbols.
Pure Python so the rules read in one place and run anywhere.
"""

from __future__ import annotations

import re

_ATTRIBUTION = re.compile(r"^\s*(--|- [A-Z]|~~)")
_SPEAKER = re.compile(r"^\s*[A-Za-z][A-Za-z .']{0,20}:\s")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')]?\s+(?=[\"'(]?[A-Z])")
_ABBREVIATIONS = re.compile(
    r"\b(Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Gen|Col|Capt|Lt|Sgt|Rev|Hon|vs|etc|Inc|Ltd|Co|No|Vol|"
    r"Ch|Fig|Mt|Ft|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|[A-Z])\.$"
)
_ALLOWED = re.compile(r"[A-Za-z0-9 .,;:!?'\"()-]+")
_WORD = re.compile(r"[A-Za-z]+")


def entries(text: str) -> list[str]:
    """The entries of one fortune file: blocks separated by lines holding only `%`."""
    blocks = re.split(r"^%[ \t]*$", text, flags=re.MULTILINE)
    return [b.strip("\n") for b in blocks if b.strip()]


def entry_prose(entry: str) -> str:
    """The entry's prose as one line, or "" when the entry is not prose.

    Indented lines, speaker labels and short stanza lines mark code, dialogues, lists and verse;
    an attribution line ends the prose.
    """
    lines: list[str] = []
    for line in entry.splitlines():
        if _ATTRIBUTION.match(line):
            break
        if not line.strip():
            continue
        if line[:1] in " \t" or _SPEAKER.match(line):
            return ""
        lines.append(line.strip())
    if len(lines) > 2 and sum(len(x) < 40 for x in lines[:-1]) > len(lines) // 2:
        return ""
    prose = " ".join(lines)
    prose = re.sub(r"(\w)- (\w)", r"\1-\2", prose) if "- " in prose else prose
    return " ".join(prose.split())


def split_sentences(prose: str) -> list[str]:
    """Sentence boundaries at . ! or ? before a capital, except after common abbreviations."""
    pieces = _SENTENCE_END.split(prose)
    sentences: list[str] = []
    for piece in pieces:
        if sentences and _ABBREVIATIONS.search(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences


def is_clean_sentence(sentence: str, min_words: int, max_words: int, max_chars: int) -> bool:
    """An English prose sentence: ASCII, plain punctuation, capitalized, not shouted."""
    if len(sentence) > max_chars or not _ALLOWED.fullmatch(sentence):
        return False
    words = _WORD.findall(sentence)
    if not min_words <= len(sentence.split()) <= max_words or len(words) < min_words:
        return False
    if not sentence[0].isupper() or sentence[-1] not in ".!?":
        return False
    letters = "".join(words)
    if sum(c.isupper() for c in letters) > 0.3 * len(letters):
        return False
    if len(re.findall(r", (?!I\b)[A-Z][a-z]", sentence)) > 1:
        return False
    if sentence.count('"') % 2 or sentence.count("(") != sentence.count(")"):
        return False
    return ".." not in sentence and "--" not in sentence and not re.search(r"\d{5,}", sentence)


def sentences_of(text: str, min_words: int, max_words: int, max_chars: int) -> list[str]:
    """The clean sentences of one fortune file's text."""
    out = []
    for entry in entries(text):
        prose = entry_prose(entry)
        if prose:
            out.extend(s for s in split_sentences(prose)
                       if is_clean_sentence(s, min_words, max_words, max_chars))
    return out
