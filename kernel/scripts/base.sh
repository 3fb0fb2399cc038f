# Sourced by kernel/scripts/*: which kernel base a script works on.
#
#   KBASE  7.3 (mainline: the series upstream reviews; the default) or
#          6.12 (the LTS backport). Each base has its own series in
#          kernel/$KBASE/patches, its own cover letter in
#          kernel/$KBASE/cover-letter.txt and its own trees under
#          build/kernel/$KBASE; the config fragments in kernel/config
#          serve both.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KBASE=${KBASE:-7.3}
case $KBASE in
7.3 | 6.12) ;;
*) echo "kernel: unknown KBASE '$KBASE' (7.3 or 6.12)" >&2; exit 1 ;;
esac
kdir=${KDIR:-$top/build/kernel/$KBASE}
src=$kdir/src
patches=$top/kernel/$KBASE/patches
cover=$top/kernel/$KBASE/cover-letter.txt

# The series proper: every numbered patch except the cover letter.
series() {
	find "$patches" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' \
		! -name '0000-*' | LC_ALL=C sort
}

series_hash() {
	local f
	{ for f in $(series); do sha256sum < "$f"; done; } | sha256sum | cut -c1-16
}
