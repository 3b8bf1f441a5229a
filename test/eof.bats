#!/usr/bin/env bats
# End of stream: half-close, request/response, -d, nothing lost or hung.

load helper

# A server in python that reads a request to EOF, then answers.
reply_server() {
	"$PYTHON" - "$@" <<'PY' 3>&- &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(1)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
c, _ = s.accept()
req = b""
while True:
    b = c.recv(65536)
    if not b:
        break
    req += b
c.sendall(b"pong: " + req + b"x" * 300000 + b"\nend\n")
c.close()
PY
	BG_PIDS+=("$!")
	wait_for_file "$1" '[0-9]'
	PORT=$(cat "$1")
}

@test "printf ping | ztpipe prints the whole reply after its stdin ended" {
	reply_server "$BATS_TEST_TMPDIR/port"
	run timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" < <(printf 'ping\n')
	[ "$status" -eq 0 ]
	[[ "$output" == "pong: ping"* ]] || false
	[[ "$output" == *$'\nend' ]] || false
	[ "${#output}" -gt 300000 ]
}

@test "a receiver with stdin from /dev/null still gets the whole stream" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 8000000
	LISTEN_IN=$f listen_bg 127.0.0.1 0
	timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/null >"$BATS_TEST_TMPDIR/got"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$f")" ]
}

@test "a sender keeps sending its open pipe after the peer half-closed" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 2000000
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg 127.0.0.1 0
	# The receiver half-closes at once; the data only starts a bit later.
	(wait_for_file "$BATS_TEST_TMPDIR/err" 'closed its side' && cat "$f") |
	    timeout 20 "$ZTPIPE" -v 127.0.0.1 "$PORT" 2>"$BATS_TEST_TMPDIR/err"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$f")" ]
}

@test "both sides exit on their own after a transfer (no hang)" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 100000
	listen_bg 127.0.0.1 0
	run timeout 5 "$ZTPIPE" 127.0.0.1 "$PORT" <"$f"
	[ "$status" -eq 0 ]
	wait_exit "$LISTEN_PID" 5
	[ "$EXIT_STATUS" -eq 0 ]
}

@test "-d never sends EOF, and ends when the peer closes" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg -d 127.0.0.1 0
	run timeout 10 "$PYTHON" - "$PORT" <<'PY'
import select, socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
# A -d listener must not half-close: nothing readable for a while.
r, _, _ = select.select([c], [], [], 0.7)
if r and c.recv(1) == b"":
    sys.exit("got EOF from a -d listener")
c.sendall(b"typed by a person\n")
c.shutdown(socket.SHUT_WR)
c.settimeout(5)
sys.exit(0 if c.recv(1) == b"" else "unexpected data")
PY
	echo "$output"
	[ "$status" -eq 0 ]
	wait_exit "$LISTEN_PID" 5
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/got")" = "typed by a person" ]
}

@test "-d does not read stdin" {
	LISTEN_IN=$BATS_TEST_TMPDIR/in
	printf 'secret\n' >"$LISTEN_IN"
	LISTEN_IN=$LISTEN_IN listen_bg -d 127.0.0.1 0
	run timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" < <(printf 'hi\n')
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	wait_exit "$LISTEN_PID" 5
	[ "$(cat "$BATS_TEST_TMPDIR/listen.out")" = "hi" ]
}

@test "-v ends with a one-line summary of bytes and seconds" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 12345
	listen_bg 127.0.0.1 0
	run --separate-stderr timeout 10 "$ZTPIPE" -v 127.0.0.1 "$PORT" <"$f"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[[ "$stderr" == *"connected to 127.0.0.1 port $PORT"* ]] || false
	[[ "$stderr" == *"stdin closed"* ]] || false
	[[ "$stderr" =~ sent\ 12345\ bytes,\ received\ 0\ bytes\ in\ [0-9.]+\ s ]] || false
	wait_exit "$LISTEN_PID" 5
	grep -q "connection from 127.0.0.1 port" "$LISTEN_ERR"
	grep -q "closed its side" "$LISTEN_ERR"
	grep -q "received 12345 bytes" "$LISTEN_ERR"
}
