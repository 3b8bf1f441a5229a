#!/bin/sh
# make check-release: each binary in DIR is built for what its name says,
# SHA256SUMS matches, and every Linux one runs: the foreign ones under
# qemu-user (no binfmt needed) on CPUs found in routers.  An aarch64
# listener and an armv7 dialler swap random files byte for byte, so do a
# MIPSel and a MIPS one, and test/transfer.bats and test/eof.bats pass
# against the aarch64 and the armv7 binary.  The Windows one runs -V
# under wine, if wine is here.
# usage: test/release.sh DIR VERSION (SHA256 and BATS from the environment)
set -eu
dir=$(cd "$1" && pwd)
v=$2
here=$(cd "$(dirname "$0")" && pwd)
sha=${SHA256:-sha256sum}
tmp=$(mktemp -d)
lpid=""
trap '[ -z "$lpid" ] || kill "$lpid" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

fail() {
	echo "release.sh: $*" >&2
	for f in "$tmp"/*.err; do
		[ -s "$f" ] && { echo "--- $f"; cat "$f"; } >&2
	done
	exit 1
}

# NAME, what file(1) must say, and how to run it ("-" for not here).
# 4Kc is a MIPS32 release 1 core without an FPU, like most router MIPS
# cores: a binary that needs either fails there with SIGILL.
binaries='
linux-x86_64|ELF 64-bit LSB executable, x86-64, *statically linked*, stripped|
linux-aarch64|ELF 64-bit LSB executable, ARM aarch64, *statically linked*, stripped|qemu-aarch64-static -cpu cortex-a53
linux-armv7|ELF 32-bit LSB executable, ARM, EABI5 *statically linked*, stripped|qemu-arm-static -cpu cortex-a7
linux-mips|ELF 32-bit MSB executable, MIPS, MIPS32 version 1 *statically linked*, stripped|qemu-mips-static -cpu 4Kc
linux-mipsel|ELF 32-bit LSB executable, MIPS, MIPS32 version 1 *statically linked*, stripped|qemu-mipsel-static -cpu 4Kc
macos-arm64|Mach-O 64-bit arm64 executable*|-
macos-x86_64|Mach-O 64-bit x86_64 executable*|-
windows-x86_64.exe|PE32+ executable (console) x86-64*, for MS Windows*|wine
'

(cd "$dir" && $sha -c SHA256SUMS >/dev/null) || fail "SHA256SUMS does not match"
[ "$(wc -l <"$dir/SHA256SUMS")" -eq 8 ] || fail "SHA256SUMS does not list 8 files"

echo "$binaries" | while IFS='|' read -r name want run; do
	[ -n "$name" ] || continue
	bin=$dir/ztpipe-$v-$name
	[ -f "$bin" ] || fail "no $bin"
	what=$(file -b "$bin")
	# shellcheck disable=SC2254
	case $what in
	$want) ;;
	*) fail "$name: file(1) says: $what" ;;
	esac
	# make test-windows runs the suite under wine; here it need not be.
	[ "$run" != wine ] || command -v wine >/dev/null || run=-
	[ "$run" != - ] || { echo "$name: $what"; continue; }
	# The two-line wrapper that ZTPIPE points at.
	printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$run" "$bin" >"$tmp/run-$name"
	chmod +x "$tmp/run-$name"
	got=$(timeout 10 "$tmp/run-$name" -V) || fail "$name -V failed"
	[ "$got" = "ztpipe $v" ] || fail "$name -V says: $got"
	echo "$name: $what; runs${run:+ under $run}"
done

# swap LISTENER DIALLER BYTES: random files both ways at once over
# 127.0.0.1, both sha256-exact; -v on both, whose summary uses floating
# point (soft float on MIPS).
swap() {
	head -c "$3" /dev/urandom >"$tmp/a"
	head -c "$3" /dev/urandom >"$tmp/b"
	# Emptied here, not by the listener's own redirection: that comes
	# after the fork, and the wait below could read the last swap's port.
	: >"$tmp/listen.err"
	timeout 120 "$tmp/run-$1" -l -v 127.0.0.1 0 <"$tmp/a" >"$tmp/got-b" \
	    2>"$tmp/listen.err" &
	lpid=$!
	i=0
	until grep -q 'listening on' "$tmp/listen.err"; do
		i=$((i + 1))
		[ "$i" -lt 200 ] || fail "$1 never listened"
		sleep 0.05
	done
	port=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' "$tmp/listen.err")
	timeout 120 "$tmp/run-$2" -v 127.0.0.1 "$port" <"$tmp/b" >"$tmp/got-a" \
	    2>"$tmp/dial.err" || fail "$2 dialling $1 failed"
	wait "$lpid" || fail "$1 listening failed"
	lpid=""
	for f in a b; do
		[ "$($sha <"$tmp/$f" | cut -d' ' -f1)" = \
		    "$($sha <"$tmp/got-$f" | cut -d' ' -f1)" ] ||
		    fail "$1 <-> $2: $f arrived changed"
	done
	grep -q "sent $3 bytes, received $3 bytes in [0-9.]* s" "$tmp/dial.err" ||
	    fail "$2: no summary"
	echo "$1 <-> $2: $3 random bytes each way, sha256-exact"
}

swap linux-aarch64 linux-armv7 10000000
# Not the other way round: under qemu-user 7.2 a big-endian MIPS program
# spins in getifaddrs(), which -l -v calls (qemu passes netlink attributes
# newer than itself through unswapped, and musl's RTA_OK loop never ends
# on them); a five-line getifaddrs() program does the same.
swap linux-mipsel linux-mips 1000000

for name in linux-aarch64 linux-armv7; do
	echo "test/transfer.bats and test/eof.bats against $name:"
	ZTPIPE=$tmp/run-$name ${BATS:-bats} "$here/transfer.bats" "$here/eof.bats" ||
	    fail "the suite failed against $name"
done
