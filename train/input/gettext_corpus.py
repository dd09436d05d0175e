"""English -> German message pairs from the gettext catalogues that Debian packages ship.

Every translated program installs its messages as `/usr/share/locale/de/LC_MESSAGES/NAME.mo`:
short, real UI sentences with printf placeholders, translated and reviewed by people. A pinned
list of packages (installed by setup) makes every machine build the same corpus; its
`fingerprint` (package versions, catalogue hashes, corpus hash) goes into the manifest.

Dev and test are whole packages named below, never a hash draw, so the held-out messages come
from programs the model has not seen. A source string shared by packages of several splits
(gnulib's "memory exhausted", "Usage: %s") is kept once, in the earliest of train, dev, test:
held-out scores then measure unseen sentences, not memory. Their number is reported.
"""

from __future__ import annotations

import gettext
import hashlib
import json
import re
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from liveri.train.input import data_cache
from liveri.train.input.base_input import SPLITS

from liveri.errors import UsageError
from liveri.fileio import atomic_write_json, atomic_write_text
from liveri.placeholders import (
    PLACEHOLDER_RE,
    TOKEN_RE,
    placeholders,
    same_placeholders,
)

LOCALE_DIR = "/usr/share/locale"
CORPUS_VERSION = 1
# Package -> its catalogues (`NAME.mo`), Debian 12 names. Left out: iso-codes, xkb-data and
# shared-mime-info (names of languages, countries, layouts and file types, not sentences);
# catalogues under ~50 pairs (xdg-user-dirs, polkitd, libidn2-0, gettext-base); net-tools (a
# Latin-1 header that Python's gettext cannot read).
CATALOGUES: dict[str, tuple[str, ...]] = {
    "git": ("git",),
    "coreutils": ("coreutils",),
    "dpkg": ("dpkg",),
    "libdpkg-perl": ("dpkg-dev",),
    "apt": ("apt",),
    "libapt-pkg6.0": ("libapt-pkg6.0",),
    "python-apt-common": ("python-apt",),
    "libc-l10n": ("libc",),
    "gnupg-l10n": ("gnupg2",),
    "postgresql-15": ("initdb-15", "pg_archivecleanup-15", "pg_checksums-15",
                      "pg_controldata-15", "pg_ctl-15", "pg_resetwal-15", "pg_rewind-15",
                      "pg_test_fsync-15", "pg_test_timing-15", "pg_upgrade-15", "pg_waldump-15",
                      "plpgsql-15", "postgres-15"),
    "postgresql-client-15": ("pg_amcheck-15", "pg_basebackup-15", "pg_config-15", "pg_dump-15",
                             "pg_verifybackup-15", "pgscripts-15", "psql-15"),
    "libpq5": ("libpq5-15",),
    "bash": ("bash",),
    "grep": ("grep",),
    "sed": ("sed",),
    "tar": ("tar",),
    "findutils": ("findutils",),
    "diffutils": ("diffutils",),
    "make": ("make",),
    "binutils-common": ("ld", "gprof", "opcodes"),
    "wget": ("wget", "wget-gnulib"),
    "procps": ("procps-ng",),
    "psmisc": ("psmisc",),
    "login": ("shadow",),
    "man-db": ("man-db", "man-db-gnulib"),
    "gettext": ("gettext-tools",),
    "krb5-locales": ("mit-krb5",),
    "libgnutls30": ("gnutls30",),
    "libelf1": ("elfutils",),
    "xz-utils": ("xz",),
    "adduser": ("adduser",),
    "systemd": ("systemd",),
    "libpam-runtime": ("Linux-PAM",),
    "libglib2.0-data": ("glib20",),
    "packagekit": ("PackageKit",),
    "appstream": ("appstream",),
    "software-properties-common": ("software-properties",),
    "libavahi-common-data": ("avahi",),
    "libgstreamer1.0-0": ("gstreamer-1.0",),
    "libgtk2.0-common": ("gtk20", "gtk20-properties"),
    "libgdk-pixbuf2.0-common": ("gdk-pixbuf",),
    "at-spi2-common": ("at-spi2-core",),
    "gsettings-desktop-schemas": ("gsettings-desktop-schemas",),
}
DEB_PACKAGES = tuple(CATALOGUES)
# Mid-sized command-line tools, so held-out messages are the same kind as the training ones.
# grep and sed would be too small: most of their messages are gnulib's, shared with coreutils.
DEV_PACKAGES = ("findutils", "diffutils", "procps")
TEST_PACKAGES = ("tar", "make", "wget")
MAX_CHARS = 300  # Either side; longer entries are --help pages, not messages.
MAX_NEWLINES = 2  # Either side; a message of more lines is a help page or a table.


class Pair(NamedTuple):
    source: str
    target: str
    package: str


@dataclass
class Corpus:
    """The splits (lists of pairs), what was kept and dropped, and what the corpus came from."""
    splits: dict[str, list[Pair]]
    stats: dict = field(default_factory=dict)
    fingerprint: dict = field(default_factory=dict)


def split_of(package: str) -> str:
    return "test" if package in TEST_PACKAGES else "dev" if package in DEV_PACKAGES else "train"


def catalogue_paths(locale_dir: str, language: str) -> dict[str, list[Path]]:
    """Each pinned package's catalogues; a UsageError with the install command for any missing."""
    root = Path(locale_dir) / language / "LC_MESSAGES"
    paths = {pkg: [root / f"{name}.mo" for name in names] for pkg, names in CATALOGUES.items()}
    missing = [pkg for pkg, files in paths.items() if not all(f.is_file() for f in files)]
    if missing:
        raise UsageError(
            f"missing gettext catalogues in {root}: the translation corpus reads the {language} "
            f"messages of {len(DEB_PACKAGES)} pinned Debian packages, and {', '.join(missing)} "
            f"are not installed. Install them with `sudo apt-get install -y {' '.join(missing)}` "
            f"(or run scripts/setup.sh with LIVERI_DEB_PACKAGES set to them).")
    return paths


def clean(text: str) -> str:
    """Whitespace runs within a line collapsed to one space, lines kept, ends stripped."""
    return "\n".join(" ".join(line.split()) for line in text.strip().split("\n"))


def drop_reason(source: str, target: str) -> str | None:
    """Why a cleaned pair is no training example, or None to keep it."""
    if not target:
        return "untranslated"
    if target == source:
        return "same_as_source"
    if max(len(source), len(target)) > MAX_CHARS:
        return "too_long"
    if max(source.count("\n"), target.count("\n")) > MAX_NEWLINES:
        return "too_many_lines"
    if not any(c.isalpha() for c in PLACEHOLDER_RE.sub("", source)):
        return "no_letters"
    if TOKEN_RE.search(source) or TOKEN_RE.search(target):
        return "contains_token"
    if not same_placeholders(source, target):
        return "placeholder_mismatch"
    return None


def read_catalogue(path: Path, package: str, dropped: Counter) -> list[Pair]:
    """The singular, translated messages of one `.mo` file, cleaned; counts the rest in `dropped`.

    msgfmt leaves fuzzy entries out of a `.mo`, so every entry here was confirmed by a translator.
    Plural forms and messages with a context (`ctx\\x04msgid`) are left out: their source alone
    does not determine the target.
    """
    with path.open("rb") as f:
        catalog = gettext.GNUTranslations(f)._catalog  # There is no public way to list it.
    pairs = []
    for msgid, msgstr in catalog.items():
        if isinstance(msgid, tuple):
            dropped["plural"] += msgid[1] == 0
        elif not msgid:
            dropped["header"] += 1
        elif "\x04" in msgid:
            dropped["context"] += 1
        else:
            source, target = clean(msgid), clean(msgstr)
            reason = drop_reason(source, target)
            if reason:
                dropped[reason] += 1
            else:
                pairs.append(Pair(source, target, package))
    return pairs


def deduplicate(pairs: list[Pair], dropped: Counter,
                overlap: Counter) -> dict[str, list[Pair]]:
    """One pair per source, assigned to a split; each split in a fixed, hash-shuffled order.

    The target is the one most packages agree on (ties: the lexically first). The pair goes to
    the earliest of train, dev, test holding a package with that source, and within it to the
    first such package in pinned order, so no package has messages in two splits. `overlap`
    counts, per split, the sources kept there that held-out packages also had.
    """
    targets: dict[str, Counter] = defaultdict(Counter)
    packages: dict[str, list[str]] = defaultdict(list)
    for pair in pairs:
        targets[pair.source][pair.target] += 1
        packages[pair.source].append(pair.package)
    splits: dict[str, list[Pair]] = {s: [] for s in SPLITS}
    order = {pkg: i for i, pkg in enumerate(DEB_PACKAGES)}
    for source, counts in targets.items():
        target = min(counts, key=lambda t: (-counts[t], t))
        dropped["duplicate_pair"] += counts[target] - 1
        dropped["conflicting_target"] += sum(counts.values()) - counts[target]
        owners = sorted(set(packages[source]), key=lambda p: (SPLITS.index(split_of(p)), order[p]))
        split = split_of(owners[0])
        overlap[split] += any(split_of(p) != split for p in owners)
        splits[split].append(Pair(source, target, owners[0]))
    for rows in splits.values():
        rows.sort(key=lambda p: hashlib.sha256(p.source.encode()).digest())
    return splits


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n"}.get(m[1], m[1]), text)


def tsv(pairs: list[Pair]) -> str:
    """One pair a line, `source<TAB>target<TAB>package`; tabs, newlines and backslashes escaped."""
    return "".join("\t".join(map(escape, pair)) + "\n" for pair in pairs)


def package_versions(packages: tuple[str, ...]) -> dict[str, str]:
    """Each package's installed version from dpkg, or "not installed"."""
    try:
        listing = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\t${Version}\n", *packages],
            capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        listing = ""
    installed = {}
    for line in listing.splitlines():
        name, status, version = line.split("\t")
        if status.startswith("ii"):
            installed[name] = version
    return {pkg: installed.get(pkg, "not installed") for pkg in packages}


def file_hashes(paths: dict[str, list[Path]]) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest()
            for files in paths.values() for f in files}


def corpus_hash(splits: dict[str, list[Pair]]) -> str:
    """The sha256 of the canonical corpus text: each split's TSV under a `# split` line."""
    text = "".join(f"# {split}\n{tsv(splits[split])}" for split in SPLITS)
    return hashlib.sha256(text.encode()).hexdigest()


def summarize(splits: dict[str, list[Pair]], dropped: Counter, overlap: Counter) -> dict:
    kept = [pair for rows in splits.values() for pair in rows]
    with_placeholders = sum(bool(placeholders(pair.source)) for pair in kept)
    return {
        "pairs": {split: len(rows) for split, rows in splits.items()},
        "packages": {split: dict(sorted(Counter(p.package for p in rows).items()))
                     for split, rows in splits.items()},
        "dropped": dict(sorted(dropped.items())),
        "held_out_sources_kept_in": {split: overlap[split] for split in SPLITS[:-1]},
        "with_placeholders": with_placeholders,
        "placeholder_share": round(with_placeholders / max(len(kept), 1), 4),
    }


def build_corpus(locale_dir: str = LOCALE_DIR, language: str = "de") -> Corpus:
    """Read, clean, deduplicate and split the pinned packages' catalogues for `language`."""
    paths = catalogue_paths(locale_dir, language)
    dropped: Counter = Counter()
    overlap: Counter = Counter()
    pairs = [pair for pkg, files in paths.items() for f in files
             for pair in read_catalogue(f, pkg, dropped)]
    splits = deduplicate(pairs, dropped, overlap)
    fingerprint = {"version": CORPUS_VERSION, "language": language,
                   "packages": package_versions(DEB_PACKAGES), "files": file_hashes(paths),
                   "sha256": corpus_hash(splits)}
    return Corpus(splits, summarize(splits, dropped, overlap), fingerprint)


def write_corpus(corpus: Corpus, out_dir: str | Path) -> None:
    """`train.tsv`, `dev.tsv`, `test.tsv` and `corpus.json` (stats and fingerprint), atomically."""
    out = Path(out_dir)
    for split, rows in corpus.splits.items():
        atomic_write_text(out / f"{split}.tsv", tsv(rows))
    atomic_write_json(out / "corpus.json", {"stats": corpus.stats,
                                             "fingerprint": corpus.fingerprint})


def read_corpus(corpus_dir: str | Path) -> Corpus:
    """The corpus `write_corpus` wrote."""
    root = Path(corpus_dir)
    splits = {}
    for split in SPLITS:
        lines = (root / f"{split}.tsv").read_text(encoding="utf-8").split("\n")[:-1]
        splits[split] = [Pair(*map(unescape, line.split("\t"))) for line in lines]
    info = json.loads((root / "corpus.json").read_text(encoding="utf-8"))
    return Corpus(splits, info["stats"], info["fingerprint"])


def load_corpus(data_dir: str = "", locale_dir: str = LOCALE_DIR, language: str = "de") -> Corpus:
    """The corpus from the data cache, built on first use.

    The cache key holds the catalogues' hashes and the packages' versions, so an upgrade builds
    anew and the fingerprint always describes the installed packages.
    """
    paths = catalogue_paths(locale_dir, language)
    sources = json.dumps([file_hashes(paths), package_versions(DEB_PACKAGES)], sort_keys=True)
    settings = f"v{CORPUS_VERSION} {locale_dir} {language} {sources}"
    name = f"gettext-{language}-{data_cache.cache_key(settings)}"
    corpus_dir = data_cache.data_root(data_dir) / name
    data_cache.build_once(corpus_dir,
                          lambda tmp: write_corpus(build_corpus(locale_dir, language), tmp))
    return read_corpus(corpus_dir)
