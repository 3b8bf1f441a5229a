#!/usr/bin/env bats
# What Windows gets wrong for others: text-mode stdio that bends bytes,
# and ZeroTier adapters known by name only.  These run against any
# ztpipe; make test-windows runs them against ztpipe.exe under wine.

load helper

@test "the ZeroTier adapter matcher takes 'ZeroTier One [nwid]' names only" {
	command -v cc >/dev/null || skip "no cc"
	cc -std=c99 -o "$BATS_TEST_TMPDIR/zt_adapter" \
	    "$BATS_TEST_DIRNAME/zt_adapter.c"
	run "$BATS_TEST_TMPDIR/zt_adapter"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

# crlf_file FILE: CR LF, a lone LF and CR, ^Z (end of text to DOS), NUL.
crlf_file() {
	printf 'line one\r\nline two\n\r\x1a after ^Z\r\n\0\x1a' >"$1"
	random_file "$1.tail" 100000
	cat "$1.tail" >>"$1"
}

@test "CR LF, ^Z and NUL pass untouched from stdin to the peer" {
	local f=$BATS_TEST_TMPDIR/crlf
	crlf_file "$f"
	listen_bg 127.0.0.1 0
	run timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" <"$f"
	[ "$status" -eq 0 ]
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	cmp "$f" "$BATS_TEST_TMPDIR/listen.out"
}

@test "CR LF, ^Z and NUL pass untouched from the peer to stdout" {
	local f=$BATS_TEST_TMPDIR/crlf out=$BATS_TEST_TMPDIR/got
	crlf_file "$f"
	LISTEN_IN=$f listen_bg 127.0.0.1 0
	timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/null >"$out"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	cmp "$f" "$out"
}

@test "messages and --help end lines with a bare newline" {
	run --separate-stderr "$ZTPIPE" --no-such-option
	[ "$status" -eq 2 ]
	[[ $stderr == "ztpipe: unknown option: --no-such-option"* ]] || false
	"$ZTPIPE" --no-such-option 2>"$BATS_TEST_TMPDIR/err" || true
	"$ZTPIPE" --help >"$BATS_TEST_TMPDIR/help"
	! grep -q $'\r' "$BATS_TEST_TMPDIR/err" "$BATS_TEST_TMPDIR/help"
}
