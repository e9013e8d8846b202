#!/usr/bin/env bash
# Each program's usage() says what its man page's SYNOPSIS says, and every
# man page renders without warnings and has the sections admins look for.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need groff
for prog in hookspool-fcgi hookspool-upload hookspoolctl; do
    need_file "$top_builddir/src/$prog"
    page=$top_builddir/man/$prog.8
    need_file "$page"
    synopsis=$(groff -mdoc -Tascii -P-c -P-b -P-u "$page" 2>/dev/null |
        sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | tr -s ' \n' '  ' |
        sed 's/^ //; s/ $//')
    usage=$("$top_builddir/src/$prog" -Z 2>&1 | sed -n 's/^usage: //p')
    is "$usage" "$synopsis" "$prog: usage() matches the SYNOPSIS"
done
for page in "$top_builddir"/man/*.[58]; do
    name=$(basename "$page")
    # Long install paths (make distcheck's) may not fit a line: not an error.
    warnings=$(groff -mdoc -Tascii -ww -z "$page" 2>&1 | grep -v "can't break line")
    is "$warnings" "" "$name renders without warnings"
    text=$(groff -mdoc -Tascii -P-c -P-b -P-u "$page" 2>/dev/null)
    for section in SYNOPSIS DESCRIPTION FILES EXAMPLES "SEE ALSO"; do
        check "$name has $section" grep -q "^$section" <<<"$text"
    done
    case $name in *.8)
        check "$name has EXIT STATUS" grep -q "^EXIT STATUS" <<<"$text" ;;
    esac
    check "$name names the configured paths, not placeholders" \
        test -z "$(grep -n '@[a-z]*@' "$page")"
done

# The cron line of the uploader's EXAMPLES is contrib/cron/hookspool's job
# (same user, same options; the paths may differ by the configured prefix).
cron_job() { sed -E 's|/[^ ]*/||g; s/[[:space:]]+/ /g; s/ $//'; }
man_cron=$(groff -mdoc -Tascii -P-c -P-b -P-u "$top_builddir/man/hookspool-upload.8" \
    2>/dev/null | sed -n 's/^ *\(\* \* \* \* \* .*\)/\1/p' | cron_job)
# (contrib's job first checks that the program and a stream exist: the
# guards before the last `&&` are left out of the comparison)
contrib_cron=$(grep -E '^[*0-9]' "$top_srcdir/contrib/cron/hookspool" |
    sed -E 's/^(([^ \t]+[ \t]+){6}).*&& /\1/' | cron_job)
is "$man_cron" "$contrib_cron" "hookspool-upload.8's cron line is contrib/cron's job"
finish
