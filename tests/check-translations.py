#!/usr/bin/env python3
"""Translations stay whole: every file with user-visible text is in
po/POTFILES.in, every .po passes msgfmt --check, and Dutch (nl) translates
every message the sources have today."""
import os
import re
import subprocess
import sys
import tempfile

root = sys.argv[1]
failures = []
tests = 0


def check(ok, what):
    global tests
    tests += 1
    print(("ok %d " if ok else "not ok %d ") % tests + what)
    if not ok:
        failures.append(what)


listed = set()
for line in open(os.path.join(root, "po", "POTFILES.in"), encoding="utf-8"):
    line = line.strip()
    if line and not line.startswith("#"):
        listed.add(line)

marker_c = re.compile(r'\b(?:N?_|ngettext|C_|NC_)\s*\(\s*"')
marker_ui = re.compile(r'translatable="yes"')
found = set()
for top in ("src", "data"):
    for dirpath, _, files in os.walk(os.path.join(root, top)):
        for name in files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            text = open(path, encoding="utf-8", errors="replace").read()
            if name.endswith((".c", ".h")) and marker_c.search(text):
                found.add(rel)
            elif name.endswith(".ui") and marker_ui.search(text):
                found.add(rel)
            elif name.endswith((".desktop.in", ".metainfo.xml.in", ".gschema.xml")):
                found.add(rel)

for rel in sorted(found):
    check(rel in listed, "%s is in po/POTFILES.in" % rel)
for rel in sorted(listed):
    check(os.path.exists(os.path.join(root, rel)), "%s (in POTFILES.in) exists" % rel)

linguas = open(os.path.join(root, "po", "LINGUAS")).read().split()
for lang in linguas:
    po = os.path.join(root, "po", lang + ".po")
    r = subprocess.run(["msgfmt", "--check", "-o", os.devnull, po], capture_output=True, text=True)
    check(r.returncode == 0, "msgfmt --check %s.po %s" % (lang, r.stderr.strip()))

# Dutch is complete against what the sources say now.
with tempfile.TemporaryDirectory() as tmp:
    pot = os.path.join(tmp, "kletsen.pot")
    args = ["xgettext", "--from-code=UTF-8", "--add-comments", "--keyword=_", "--keyword=N_",
            "--keyword=C_:1c,2", "--keyword=NC_:1c,2", "--keyword=g_dngettext:2,3",
            "--keyword=ngettext:1,2", "--flag=g_strdup_printf:1:c-format",
            "--directory=" + root, "-o", pot] + sorted(listed)
    r = subprocess.run(args, capture_output=True, text=True)
    check(r.returncode == 0, "xgettext extracts the messages " + r.stderr.strip()[:200])
    merged = os.path.join(tmp, "nl.po")
    r = subprocess.run(["msgmerge", "--quiet", "--no-fuzzy-matching", "-o", merged,
                        os.path.join(root, "po", "nl.po"), pot], capture_output=True, text=True)
    stats = subprocess.run(["msgfmt", "--statistics", "-o", os.devnull, merged], capture_output=True, text=True)
    complete = r.returncode == 0 and "untranslated" not in stats.stderr and "fuzzy" not in stats.stderr
    check(complete, "nl.po translates every message: " + stats.stderr.strip())

print("1..%d" % tests)
sys.exit(1 if failures else 0)
