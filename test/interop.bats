#!/usr/bin/env bats
# ztpipe talks to the other netcats and to bash's /dev/tcp.

load helper

setup() {
	PAYLOAD=$BATS_TEST_TMPDIR/payload
	random_file "$PAYLOAD" 3000000
}

need() {
	command -v "$1" >/dev/null || skip "$1 not installed"
}

@test "nc sends to a ztpipe listener" {
	need nc
	# "nc" is netcat-openbsd (-N: shut down after EOF) or nmap's ncat
	local eof=-N
	nc -h 2>&1 | grep -q Ncat && eof=--send-only
	listen_bg 127.0.0.1 0
	timeout 10 nc "$eof" 127.0.0.1 "$PORT" <"$PAYLOAD"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/listen.out")" = "$(sha "$PAYLOAD")" ]
}

@test "ztpipe sends to an nc listener" {
	need nc
	local port
	port=$(free_port)
	start_bg timeout 20 nc -l 127.0.0.1 "$port" </dev/null >"$BATS_TEST_TMPDIR/got"
	local ncpid=$BG_PID
	wait_for_port "$port"
	timeout 10 "$ZTPIPE" 127.0.0.1 "$port" <"$PAYLOAD"
	wait_exit "$ncpid" 10
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$PAYLOAD")" ]
}

@test "socat sends to a ztpipe listener" {
	need socat
	listen_bg 127.0.0.1 0
	timeout 10 socat -u STDIN "TCP:127.0.0.1:$PORT" <"$PAYLOAD"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/listen.out")" = "$(sha "$PAYLOAD")" ]
}

@test "ztpipe sends to a socat listener" {
	need socat
	local port
	port=$(free_port)
	start_bg timeout 20 socat -u "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" \
	    "CREATE:$BATS_TEST_TMPDIR/got"
	local spid=$BG_PID
	wait_for_port "$port"
	timeout 10 "$ZTPIPE" 127.0.0.1 "$port" <"$PAYLOAD"
	wait_exit "$spid" 10
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$PAYLOAD")" ]
}

@test "bash /dev/tcp sends to a ztpipe listener" {
	listen_bg 127.0.0.1 0
	timeout 10 bash -c "cat '$PAYLOAD' >/dev/tcp/127.0.0.1/$PORT"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/listen.out")" = "$(sha "$PAYLOAD")" ]
}

@test "bash /dev/tcp receives from a ztpipe listener" {
	LISTEN_IN=$PAYLOAD listen_bg 127.0.0.1 0
	timeout 10 bash -c "cat </dev/tcp/127.0.0.1/$PORT >'$BATS_TEST_TMPDIR/got'"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$PAYLOAD")" ]
}

@test "ncat sends to a ztpipe listener" {
	need ncat
	listen_bg 127.0.0.1 0
	timeout 10 ncat --send-only 127.0.0.1 "$PORT" <"$PAYLOAD"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/listen.out")" = "$(sha "$PAYLOAD")" ]
}

@test "ztpipe sends to an ncat listener" {
	need ncat
	local port
	port=$(free_port)
	start_bg timeout 20 ncat -l --recv-only 127.0.0.1 "$port" </dev/null \
	    >"$BATS_TEST_TMPDIR/got"
	local ncpid=$BG_PID
	wait_for_port "$port"
	timeout 10 "$ZTPIPE" 127.0.0.1 "$port" <"$PAYLOAD"
	wait_exit "$ncpid" 10
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$PAYLOAD")" ]
}

# both_ways LISTENER DIALLER: each sends its own payload at once, and
# each gets the other's whole, both exit 0.  make test-windows sets
# ZTPIPE_NATIVE to the Linux build, so ztpipe.exe meets it there.
both_ways() {
	local l=$1 d=$2 dir=$BATS_TEST_TMPDIR
	random_file "$dir/back" 2000000
	start_bg timeout 30 "$l" -l -v 127.0.0.1 0 <"$PAYLOAD" >"$dir/at_l" \
	    2>"$dir/l.err"
	local lpid=$BG_PID
	wait_for_file "$dir/l.err" 'listening on'
	PORT=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' "$dir/l.err")
	timeout 30 "$d" 127.0.0.1 "$PORT" <"$dir/back" >"$dir/at_d"
	wait_exit "$lpid" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$dir/at_d")" = "$(sha "$PAYLOAD")" ]
	[ "$(sha "$dir/at_l")" = "$(sha "$dir/back")" ]
}

@test "a native ztpipe dials the ztpipe under test: both ways at once, byte-exact" {
	both_ways "$ZTPIPE" "${ZTPIPE_NATIVE:-$ZTPIPE}"
}

@test "the ztpipe under test dials a native ztpipe: both ways at once, byte-exact" {
	both_ways "${ZTPIPE_NATIVE:-$ZTPIPE}" "$ZTPIPE"
}
