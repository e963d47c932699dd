#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Builds labelled retrieval sets from documentation installed by Debian packages.

Each set is a folder of pages (plain text, one file per reference page) and a list of
questions: the page's own one-line description ("get file status", "Common pathname
manipulations"), whose one right answer is that page. Every set comes in two variants:

  with/     the page as installed, description line included (a question may match it
            word for word)
  without/  the description line removed from the page (the question must be matched
            by the rest of the page)

Sets (skipped when their package is missing):
  man     sections 2-8 of the man-pages project (packages manpages, manpages-dev)
  perl    perl-doc's manual pages (perl*(1) and the core modules' *(3perl))
  python  the reST sources of Python's documentation (package python3.11-doc or python3-doc);
          questions from the library pages titled "module --- description"
  pylib   the same with only the library pages as the corpus (smaller: CI's floor test)

Questions are split by a hash of the page name: 60 % train, 20 % dev, 20 % test. Tune on
train and dev only; the test split is for the final numbers. Descriptions shared by more
than one page (no single right answer) are left out.

    tests/bench/retrieval/make_sets.py OUT [--sets man,perl,python] [--jobs N]

writes OUT/<set>/{with,without}/pages/*.txt and OUT/<set>/questions.jsonl
({"q": ..., "page": "<file name>", "split": "train"|"dev"|"test"}).
Rebuilding gives the same files on the same package versions.
"""
import argparse
import concurrent.futures as cf
import glob
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys


def split_of(page):
    h = int(hashlib.sha1(page.encode()).hexdigest()[:8], 16) % 10
    return "train" if h < 6 else "dev" if h < 8 else "test"


def pkg_files(pkg):
    try:
        out = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True, check=True)
    except (subprocess.CalledProcessError, FileNotFoundError):
        return []
    return out.stdout.split("\n")


def render_man(path):
    """Returns the page as plain text, or None for a link page (.so) or a failure."""
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        src = f.read()
    lines = [l for l in src.split(b"\n") if l.strip() and not l.startswith((b'.\\"', b"'\\\""))]
    if not lines or lines[0].startswith(b".so "):
        return None
    p = subprocess.run(["groff", "-t", "-man", "-Tutf8", "-P-cbou", "-rLL=80n", "-rHY=0"], input=src,
                       capture_output=True)
    if p.returncode != 0:
        return None
    text = p.stdout.decode("utf-8", "replace")
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return text


NAME_RE = re.compile(r"^NAME\n((?:[ \t]+\S.*\n)+)", re.M)


def man_description(text):
    """(description, span of the NAME paragraph's text) or (None, None)."""
    m = NAME_RE.search(text)
    if not m:
        return None, None
    para = " ".join(l.strip() for l in m.group(1).split("\n") if l.strip())
    parts = re.split(r"\s[-\u2010\u2012\u2013\u2014\u2212]\s", para, maxsplit=1)
    if len(parts) != 2:
        return None, None
    desc = parts[1].strip()
    return desc, m.span(1)


def build_man(out, pkgs, sections, jobs):
    # Aliases are symbolic links (fstat.2 -> stat.2) or ".so" pages: one page each.
    files = sorted(f for p in pkgs for f in pkg_files(p)
                   if re.search(r"/man/man(%s)/[^/]+$" % "|".join(sections), f)
                   and not os.path.islink(f))
    pages = {}
    with cf.ThreadPoolExecutor(jobs) as ex:
        for f, text in zip(files, ex.map(render_man, files)):
            if not text:
                continue
            name = os.path.basename(f)
            if name.endswith(".gz"):
                name = name[:-3]
            name = name.replace("/", "_") + ".txt"
            pages[name] = text
    items = []
    for name, text in sorted(pages.items()):
        desc, span = man_description(text)
        if desc and span:
            # Without: the NAME paragraph keeps the names but loses the description.
            names = re.split(r"\s[-\u2010\u2012\u2013\u2014\u2212]\s", text[span[0]:span[1]], 1)[0]
            without = text[:span[0]] + names.rstrip() + "\n" + text[span[1]:]
        else:
            without = text
        items.append((name, desc, text, without))
    write_set(out, items)


PY_TITLE = re.compile(r"\A(?:\.\. .*\n(?:   .*\n|\n)*)*\s*(:mod:`[^`]+`|\S+)\s+-{2,3}\s+(.+)\n([=\-~*#]+)\n")


def build_python(out, library_only=False):
    roots = sorted(glob.glob("/usr/share/doc/python3*-doc/html/_sources"))
    if not roots:
        return False
    root = roots[-1]
    items = []
    for f in sorted(glob.glob(os.path.join(root, "**", "*.txt"), recursive=True)):
        rel = os.path.relpath(f, root)
        if library_only and not rel.startswith("library/"):
            continue
        name = rel.replace("/", "_")
        with open(f, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        desc, without = None, text
        if rel.startswith("library/"):
            m = PY_TITLE.search(text)
            if m:
                desc = re.sub(r"\s+", " ", m.group(2)).strip()
                mod = m.group(1)
                # Without: the title keeps the module name only; the synopsis goes too.
                without = (text[:m.start(1)] + mod + "\n" + "=" * len(mod) + "\n" +
                           text[m.end():])
                without = re.sub(r"^([ \t]+:synopsis:).*\n", "", without, flags=re.M)
        items.append((name, desc, text, without))
    write_set(out, items)
    return True


def write_set(out, items):
    seen = {}
    for name, desc, _, _ in items:
        if desc:
            seen.setdefault(desc.lower(), []).append(name)
    qs = []
    for variant in ("with", "without"):
        d = os.path.join(out, variant, "pages")
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            os.remove(os.path.join(d, old))
    for name, desc, text, without in items:
        for variant, t in (("with", text), ("without", without)):
            with open(os.path.join(out, variant, "pages", name), "w", encoding="utf-8") as fh:
                fh.write(t)
        if desc and len(seen[desc.lower()]) == 1 and len(desc.split()) >= 2:
            qs.append({"q": desc, "page": name, "split": split_of(name)})
    with open(os.path.join(out, "questions.jsonl"), "w", encoding="utf-8") as fh:
        for q in qs:
            fh.write(json.dumps(q, ensure_ascii=False) + "\n")
    counts = {s: sum(1 for q in qs if q["split"] == s) for s in ("train", "dev", "test")}
    print("%s: %d pages, %d questions %s" % (out, len(items), len(qs), counts), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--sets", default="man,perl,python")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()
    for s in a.sets.split(","):
        d = os.path.join(a.out, s)
        if s == "man":
            if not pkg_files("manpages"):
                print("man: package manpages is not installed, skipped", file=sys.stderr)
                continue
            build_man(d, ["manpages", "manpages-dev"], ["2", "3", "4", "5", "7", "8"], a.jobs)
        elif s == "perl":
            if not pkg_files("perl-doc"):
                print("perl: package perl-doc is not installed, skipped", file=sys.stderr)
                continue
            build_man(d, ["perl-doc"], ["1", "3"], a.jobs)
        elif s in ("python", "pylib"):
            if not build_python(d, s == "pylib"):
                print("python: python3-doc is not installed, skipped", file=sys.stderr)
        else:
            sys.exit("unknown set %s" % s)


if __name__ == "__main__":
    main()
