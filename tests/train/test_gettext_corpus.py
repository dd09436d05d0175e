"""The English -> German corpus from gettext catalogues: placeholders survive, splits are whole
packages, and the fingerprint follows the catalogues."""

import json
import struct
from collections import Counter
from pathlib import Path

import pytest
from liveri.train.input import gettext_corpus as gc

from liveri.errors import UsageError
from liveri.placeholders import placeholders, protect, restore, same_placeholders

HEADER = ("Content-Type: text/plain; charset=UTF-8\n"
          "Plural-Forms: nplurals=2; plural=(n != 1);\n")


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A GNU .mo file (little endian, revision 0, no hash table) holding `messages`.

    Plural entries are "singular\\0plural" -> "form0\\0form1", context entries "ctx\\x04msgid".
    """
    entries = sorted({"": HEADER, **messages}.items())
    ids = [k.encode() for k, _ in entries]
    strs = [v.encode() for _, v in entries]
    n = len(entries)
    originals, translations = 28, 28 + 8 * n
    offset = 28 + 16 * n
    tables, blob = [], b""
    for string in ids + strs:
        tables.append((len(string), offset + len(blob)))
        blob += string + b"\0"
    head = struct.pack("<7I", 0x950412DE, 0, n, originals, translations, 0, offset)
    body = b"".join(struct.pack("<2I", *entry) for entry in tables)
    path.write_bytes(head + body + blob)


def write_locale(root: Path, overrides: dict[str, dict[str, str]]) -> Path:
    """A locale dir with every pinned catalogue: one message of its own each, unless overridden."""
    messages_dir = root / "de" / "LC_MESSAGES"
    messages_dir.mkdir(parents=True, exist_ok=True)
    for names in gc.CATALOGUES.values():
        for name in names:
            own = {f"Message of {name}": f"Nachricht von {name}"}
            write_mo(messages_dir / f"{name}.mo", overrides.get(name, own))
    return root


GIT = {
    "could not open '%s'": "konnte '%s' nicht öffnen",
    "one file\0%d files": "eine Datei\0%d Dateien",
    "verb\x04Open": "Öffnen",
    "Copy %s to %s": "%s nach %s kopieren",
    "%1$s on %2$s": "%2$s: %1$s",
    "Report bugs": "Fehler melden",
    "bad %s and %d": "schlecht %s",
    "   padded    message  ": " aufgefüllte  Nachricht ",
    "OK": "OK",
    "%s: %s": "%s – %s",
    "memory exhausted": "Speicher erschöpft",
    "line one\nline two\nthree\nfour": "Zeile eins\nzwei\ndrei\nvier",
}
CORE = {"Report bugs": "Fehler berichten", "Usage: %s": "Aufruf: %s",
        "memory exhausted": "Speicher erschöpft", "Open": "Öffnen"}
TAR = {"Usage: %s": "Aufruf: %s", "Archive is compressed": "Archiv ist komprimiert",
       "Open": "Aufmachen"}
FINDUTILS = {"Report bugs": "Fehler melden", "invalid predicate %s": "ungültiges Prädikat %s"}
SMALL = {"git": GIT, "coreutils": CORE, "tar": TAR, "findutils": FINDUTILS}


@pytest.fixture(scope="module")
def small_locale(tmp_path_factory) -> Path:
    return write_locale(tmp_path_factory.mktemp("locale"), SMALL)


@pytest.fixture(scope="module")
def small(small_locale) -> gc.Corpus:
    return gc.build_corpus(str(small_locale))


@pytest.mark.parametrize("text, expected", [
    ("could not open '%s'", ["%s"]),
    ("%d of %u at %.250s, %-10s and %*d", ["%d", "%u", "%.250s", "%-10s", "%*d"]),
    ("%2$s before %1$s, %lu %zu %lld %jd %m %.*s %'d %#x %02X", [
        "%2$s", "%1$s", "%lu", "%zu", "%lld", "%jd", "%m", "%.*s", "%'d", "%#x", "%02X"]),
    ("100%% done, 100% of it, % used", []),
    ("%%(body) and %%%s", ["%s"]),
    ("{0} of {1}, {name!r:>10} and {}", ["{0}", "{1}", "{name!r:>10}", "{}"]),
    ("literal {{0}} braces", []),
    ("%(pkgname)s needs %(current)li", ["%(pkgname)s", "%(current)li"]),
    ("$HOME and ${GIT_DIR}, not $1 or 5$", ["$HOME", "${GIT_DIR}"]),
    ("no placeholders here", []),
])
def test_placeholders_are_found(text, expected):
    assert placeholders(text) == expected


def test_protect_numbers_the_source_and_the_translation_keeps_its_numbers():
    source, numbered = protect("Copy %1$s to %2$s (%d bytes)")
    assert source == "Copy ⟦0⟧ to ⟦1⟧ (⟦2⟧ bytes)"
    assert numbered == ["%1$s", "%2$s", "%d"]
    target, same = protect("%2$s: %1$s kopieren (%d Bytes)", numbered)
    assert target == "⟦1⟧: ⟦0⟧ kopieren (⟦2⟧ Bytes)" and same == numbered
    assert restore(target, numbered) == "%2$s: %1$s kopieren (%d Bytes)"
    assert restore(source, numbered) == "Copy %1$s to %2$s (%d bytes)"


def test_protect_keeps_literals_and_repeated_placeholders():
    text = "%s: 100%% of %s"
    protected, numbered = protect(text)
    assert protected == "⟦0⟧: 100%% of ⟦1⟧" and numbered == ["%s", "%s"]
    assert restore(protect("%s von %s", numbered)[0], numbered) == "%s von %s"


def test_protect_refuses_what_the_source_lacks_and_restore_drops_invented_tokens():
    with pytest.raises(ValueError, match="not among"):
        protect("%s und %d", ["%s"])
    assert restore("⟦0⟧ und ⟦1⟧", ["%s"]) == "%s und "


def test_same_placeholders_ignores_order_not_count():
    assert same_placeholders("%1$s on %2$s", "%2$s: %1$s")
    assert not same_placeholders("bad %s and %d", "schlecht %s")
    assert not same_placeholders("%s and %s", "%2$s und %1$s")


def test_catalogues_skip_header_plural_context_and_bad_pairs(small):
    kept = {p.source: p for rows in small.splits.values() for p in rows}
    assert "could not open '%s'" in kept and "%1$s on %2$s" in kept
    assert kept["padded message"].target == "aufgefüllte Nachricht"
    assert not {"", "one file", "verb\x04Open", "OK", "%s: %s", "bad %s and %d"} & set(kept)
    assert not [s for s in kept if s.startswith("line one")]
    dropped = small.stats["dropped"]
    assert dropped["header"] == sum(len(names) for names in gc.CATALOGUES.values())
    assert (dropped["plural"], dropped["context"], dropped["same_as_source"]) == (1, 1, 1)
    assert (dropped["no_letters"], dropped["placeholder_mismatch"]) == (1, 1)
    assert dropped["too_many_lines"] == 1


def test_duplicates_keep_the_most_common_target_in_the_earliest_split(small):
    kept = {p.source: p for rows in small.splits.values() for p in rows}
    assert kept["Report bugs"] == ("Report bugs", "Fehler melden", "git")
    assert kept["memory exhausted"].package == "git"
    assert kept["Usage: %s"] == ("Usage: %s", "Aufruf: %s", "coreutils")
    assert kept["Open"] == ("Open", "Aufmachen", "coreutils"), "a tie goes to the first target"
    assert small.stats["dropped"]["conflicting_target"] == 2
    assert small.stats["dropped"]["duplicate_pair"] == 3
    assert small.stats["held_out_sources_kept_in"] == {"train": 3, "dev": 0}


def test_splits_are_whole_packages(small):
    packages = {split: {p.package for p in rows} for split, rows in small.splits.items()}
    assert packages["test"] == set(gc.TEST_PACKAGES) and packages["dev"] == set(gc.DEV_PACKAGES)
    assert not packages["train"] & (packages["dev"] | packages["test"])
    assert {p.source for p in small.splits["test"] if p.package == "tar"} == {
        "Archive is compressed"}
    sources = [p.source for rows in small.splits.values() for p in rows]
    assert len(sources) == len(set(sources))


def test_written_corpus_reads_back_and_is_hashed(small, tmp_path):
    gc.write_corpus(small, tmp_path)
    assert gc.read_corpus(tmp_path).splits == small.splits
    first = (tmp_path / "train.tsv").read_text().splitlines()[0].split("\t")
    assert len(first) == 3
    info = json.loads((tmp_path / "corpus.json").read_text())
    assert info["fingerprint"] == small.fingerprint and info["stats"] == small.stats
    assert info["fingerprint"]["sha256"] == gc.corpus_hash(small.splits)
    assert set(info["fingerprint"]["packages"]) == set(gc.DEB_PACKAGES)
    assert info["fingerprint"]["files"].keys() >= {"git.mo", "postgres-15.mo"}


def test_tabs_newlines_and_backslashes_survive_the_tsv(tmp_path):
    pair = gc.Pair("a\tb\nc \\n d\\", "x\\ty", "git")
    corpus = gc.Corpus({"train": [pair], "dev": [], "test": []})
    gc.write_corpus(corpus, tmp_path)
    assert (tmp_path / "train.tsv").read_text().count("\n") == 1
    assert gc.read_corpus(tmp_path).splits["train"] == [pair]


def test_fingerprint_and_cache_follow_the_catalogues(small, tmp_path):
    locale = write_locale(tmp_path / "locale", SMALL)
    data = tmp_path / "data"
    cached = gc.load_corpus(str(data), str(locale))
    assert cached.splits == small.splits and cached.fingerprint == small.fingerprint
    assert gc.load_corpus(str(data), str(locale)).fingerprint == cached.fingerprint
    write_locale(locale, {**SMALL, "git": {**GIT, "Pushing to %s": "Versende nach %s"}})
    changed = gc.load_corpus(str(data), str(locale))
    assert changed.fingerprint["files"]["git.mo"] != cached.fingerprint["files"]["git.mo"]
    assert changed.fingerprint["sha256"] != cached.fingerprint["sha256"]
    assert len([d for d in data.iterdir() if d.name.startswith("gettext-de-")]) == 2


def test_missing_catalogues_name_the_packages_and_the_install_command(tmp_path):
    locale = write_locale(tmp_path, SMALL)
    (locale / "de" / "LC_MESSAGES" / "psql-15.mo").unlink()
    with pytest.raises(UsageError) as error:
        gc.build_corpus(str(locale))
    message = str(error.value)
    assert "postgresql-client-15" in message
    assert "apt-get install -y postgresql-client-15" in message


def machine_catalogues_installed() -> bool:
    try:
        gc.catalogue_paths(gc.LOCALE_DIR, "de")
    except UsageError:
        return False
    return True


@pytest.mark.skipif(not machine_catalogues_installed(),
                    reason="the pinned Debian packages' German catalogues are not installed")
def test_the_machine_corpus():
    corpus = gc.build_corpus()
    print(json.dumps(corpus.stats, indent=1))
    assert len(corpus.splits["train"]) > 10_000
    assert min(len(corpus.splits["dev"]), len(corpus.splits["test"])) > 500
    owners = Counter()
    for rows in corpus.splits.values():
        owners.update({p.package for p in rows})
        assert all(same_placeholders(p.source, p.target) for p in rows)
    assert max(owners.values()) == 1, "a package has messages in two splits"
    sources = {split: {p.source for p in rows} for split, rows in corpus.splits.items()}
    assert not sources["train"] & (sources["dev"] | sources["test"])
    assert all(v != "not installed" for v in corpus.fingerprint["packages"].values())


def test_setup_installs_every_pinned_package() -> None:
    """scripts/setup.sh installs exactly the packages the corpus is pinned to."""
    import re

    setup = (Path(__file__).resolve().parents[2] / "scripts" / "setup.sh").read_text()
    listed = re.search(r"GETTEXT_PACKAGES=\(([^)]*)\)", setup).group(1).split()
    assert tuple(listed) == gc.DEB_PACKAGES
