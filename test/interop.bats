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
