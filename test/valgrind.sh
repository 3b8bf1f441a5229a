#!/bin/sh
# Both ends of a transfer under valgrind, then a -k listener with three
# clients, stopped by SIGTERM; any memory error or definite leak fails.
# usage: test/valgrind.sh [./ztpipe]
set -u
zt=${1:-./ztpipe}
tmp=$(mktemp -d)
lpid=""
trap '[ -z "$lpid" ] || kill "$lpid" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
vg="valgrind -q --error-exitcode=1 --leak-check=full"
vg="$vg --errors-for-leak-kinds=definite,indirect"

fail() {
	echo "valgrind.sh: $*" >&2
	for f in "$tmp"/*.vg "$tmp"/*.err; do
		[ -s "$f" ] && { echo "--- $f"; cat "$f"; } >&2
	done
	exit 1
}

# wait_for FILE PATTERN: until FILE has it (30 s: valgrind starts slowly).
wait_for() {
	i=0
	until grep -q -- "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -lt 300 ] || fail "no '$2' in $1"
		sleep 0.1
	done
}

# listen NAME STDIN ARGS...: a listener under valgrind; sets lpid and port.
listen() {
	name=$1 in=$2
	shift 2
	$vg --log-file="$tmp/$name.vg" "$zt" -l -v "$@" 127.0.0.1 0 \
	    <"$in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	lpid=$!
	wait_for "$tmp/$name.err" 'listening on'
	port=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' \
	    "$tmp/$name.err")
}

# One transfer, both ways at once, both ends under valgrind.
head -c 3000000 /dev/urandom >"$tmp/a"
head -c 3000000 /dev/urandom >"$tmp/b"
listen listen "$tmp/a"
timeout 120 $vg --log-file="$tmp/client.vg" "$zt" -v 127.0.0.1 "$port" \
    <"$tmp/b" >"$tmp/got" 2>"$tmp/client.err" || fail "client: status $?"
wait "$lpid" || fail "listener: status $?"
lpid=""
cmp -s "$tmp/a" "$tmp/got" || fail "listener to client: data differs"
cmp -s "$tmp/b" "$tmp/listen.out" || fail "client to listener: data differs"

# Many peers: the peer table, line framing, a signal ending the loop.
listen keep /dev/null -k
for c in 1 2 3; do
	seq 1 20000 | sed "s/^/client $c /" |
	    timeout 60 "$zt" 127.0.0.1 "$port" >/dev/null || fail "client $c"
done
i=0
until [ "$(wc -l <"$tmp/keep.out")" -ge 60000 ]; do
	i=$((i + 1))
	[ "$i" -lt 300 ] || fail "-k listener wrote $(wc -l <"$tmp/keep.out") lines of 60000"
	sleep 0.1
done
kill -TERM "$lpid"
wait "$lpid" || fail "-k listener: status $?"
lpid=""
echo "valgrind: both ends of a transfer and a -k listener: no errors, no leaks"
