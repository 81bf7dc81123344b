#!/usr/bin/env python3
"""`meson install --destdir` produces the whole tree, and the installed
programs speak Dutch from the installed catalogue."""
import os
import subprocess
import sys
import tempfile

build, prefix = sys.argv[1], sys.argv[2]
results = []


def check(ok, what):
    results.append(ok)
    print(("ok %d " if ok else "not ok %d ") % len(results) + what)


with tempfile.TemporaryDirectory() as dest:
    r = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet", "--destdir", dest],
                       capture_output=True, text=True)
    check(r.returncode == 0, "meson install --destdir " + r.stderr.strip()[-300:])
    top = dest + prefix
    expected = [
        "bin/kletsen",
        "bin/kletsen-server",
        "bin/kletsen-cli",
        "share/applications/nl.kletsen.Kletsen.desktop",
        "share/metainfo/nl.kletsen.Kletsen.metainfo.xml",
        "share/icons/hicolor/scalable/apps/nl.kletsen.Kletsen.svg",
        "share/icons/hicolor/symbolic/apps/nl.kletsen.Kletsen-symbolic.svg",
        "share/glib-2.0/schemas/nl.kletsen.Kletsen.gschema.xml",
        "share/locale/nl/LC_MESSAGES/kletsen.mo",
        "lib/systemd/system/kletsen-server.service",
        "etc/kletsen/kletsen-server.conf",
    ]
    for rel in expected:
        check(os.path.exists(os.path.join(top, rel)), "installs " + rel)

    unit = open(os.path.join(top, "lib/systemd/system/kletsen-server.service")).read()
    check("ExecStart=%s/bin/kletsen-server" % prefix in unit, "the service runs the installed server")

    desktop = open(os.path.join(top, "share/applications/nl.kletsen.Kletsen.desktop"), encoding="utf-8").read()
    check("Comment[nl]=" in desktop, "the installed desktop file carries the Dutch comment")

    # The installed client, in Dutch: a bad name is refused before any connection.
    # LANG=nl_NL.UTF-8 where that locale is generated; otherwise LANGUAGE=nl on
    # C.UTF-8 asks for the same catalogue.
    locales = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower().split()
    lang = "nl_NL.UTF-8" if "nl_nl.utf8" in locales else "C.UTF-8"
    env = dict(os.environ, LANGUAGE="nl", LANG=lang, LC_ALL="",
               KLETSEN_LOCALEDIR=os.path.join(top, "share/locale"))
    r = subprocess.run([os.path.join(top, "bin/kletsen-cli"), "--name", "x", "--port", "1", "list"],
                       capture_output=True, text=True, env=env)
    check("Een gebruikersnaam heeft 3 tot 14 letters" in r.stderr, "kletsen-cli speaks Dutch: " + r.stderr.strip())
    check(r.returncode == 1, "and exits with status 1 (got %d)" % r.returncode)

# Run from the build tree, with no environment: its own catalogue (build/po).
env = dict(os.environ, LANGUAGE="nl", LANG=lang, LC_ALL="")
env.pop("KLETSEN_LOCALEDIR", None)
r = subprocess.run([os.path.join(build, "src/client/kletsen-cli"), "--name", "x", "--port", "1", "list"],
                   capture_output=True, text=True, env=env)
check("Een gebruikersnaam heeft 3 tot 14 letters" in r.stderr,
      "the uninstalled kletsen-cli finds its translations by itself: " + r.stderr.strip())

print("1..%d" % len(results))
sys.exit(0 if all(results) else 1)
