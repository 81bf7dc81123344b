#!/usr/bin/env python3
"""The Flatpak manifest is valid JSON and agrees with the desktop file, the
binary it must run and the module that builds this tree."""
import configparser
import json
import os
import sys

root, desktop, binary = sys.argv[1], sys.argv[2], sys.argv[3]
results = []


def check(ok, what):
    results.append(ok)
    print(("ok %d " if ok else "not ok %d ") % len(results) + what)


app_id = "nl.kletsen.Kletsen"
path = os.path.join(root, "flatpak", app_id + ".json")
manifest = json.load(open(path, encoding="utf-8"))
entry = configparser.ConfigParser(interpolation=None)
entry.read(desktop, encoding="utf-8")

check(manifest.get("app-id") == app_id, "the manifest is named after its app-id")
check(os.path.basename(desktop) == app_id + ".desktop", "the desktop file is named after the app id")
check(manifest.get("command") == os.path.basename(binary), "the command is the app binary, " + os.path.basename(binary))
check(entry["Desktop Entry"]["Exec"].split()[0] == manifest.get("command"), "the desktop file runs the same command")
check(entry["Desktop Entry"]["Icon"] == app_id, "the desktop file's icon is the app id")
check(manifest.get("runtime") == "org.gnome.Platform" and manifest.get("sdk") == "org.gnome.Sdk",
      "the GNOME runtime and SDK")
last = manifest["modules"][-1]
check(last.get("name") == "kletsen" and last.get("buildsystem") == "meson", "the last module builds kletsen with meson")
check(any(s.get("type") == "dir" and os.path.normpath(os.path.join(root, "flatpak", s.get("path", ""))) == os.path.normpath(root)
          for s in last.get("sources", [])), "the module builds this tree")
args = manifest.get("finish-args", [])
check("--share=network" in args, "network access")
check(not any(a in ("--filesystem=home", "--filesystem=host", "--filesystem=host-os") for a in args),
      "no broad filesystem access")
check(not any(a.startswith("--talk-name=") or a.startswith("--system-talk-name=") for a in args),
      "no extra D-Bus names")
print("1..%d" % len(results))
sys.exit(0 if all(results) else 1)
