#!/usr/bin/env python3
"""Fails when the generated tables in docs/protocol.md differ from the code's."""
import subprocess
import sys

tables_bin, doc = sys.argv[1], sys.argv[2]
begin, end = "<!-- BEGIN GENERATED TABLES -->\n", "<!-- END GENERATED TABLES -->\n"
generated = subprocess.run([tables_bin], check=True, capture_output=True, text=True).stdout
text = open(doc, encoding="utf-8").read()
if begin not in text or end not in text:
    sys.exit(f"{doc}: the markers around the generated tables are missing")
in_doc = text.split(begin, 1)[1].split(end, 1)[0]
if in_doc != generated:
    sys.exit(f"{doc} is out of date: paste the output of kletsen-protocol-tables between the markers")
print("1..1\nok 1 docs/protocol.md tables match the protocol library")
