#!/bin/sh
# build-aux/update-po.sh
#
# Merges po/nl.po with the messages the sources hold now (the same
# extraction as tests/check-translations.py) and lists those still
# untranslated, so that Dutch stays complete.
set -eu
cd "$(dirname "$0")/.."
pot=$(mktemp)
trap 'rm -f "$pot"' EXIT
grep -v '^#' po/POTFILES.in | grep . | xargs xgettext --from-code=UTF-8 --add-comments \
  --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 --keyword=g_dngettext:2,3 \
  --keyword=ngettext:1,2 --flag=g_strdup_printf:1:c-format --package-name=kletsen -o "$pot"
for lang in $(cat po/LINGUAS); do
  msgmerge --quiet --no-fuzzy-matching --update --backup=none "po/$lang.po" "$pot"
  msgattrib --untranslated --no-obsolete "po/$lang.po" | grep '^msgid' | sed "s/^/$lang: /" || true
done
