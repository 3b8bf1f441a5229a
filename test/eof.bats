#!/usr/bin/env bats
# End of stream: half-close, request/response, -d, nothing lost or hung.

load helper

# py_server MODE FILE: a server in python, its port written to FILE (and
# PORT).  reply: reads a request to EOF, then answers and closes.  sink:
# like a printer or a log sink, greets, reads to EOF, writes the sha256
# of what it read to FILE.sha and never closes (60 s).  stall: greets and
# never reads.
py_server() {
	"$PYTHON" - "$@" <<'PY' 3>&- &
import hashlib, socket, sys, time
mode, port_file = sys.argv[1:3]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(1)
open(port_file, "w").write("%d\n" % s.getsockname()[1])
c, _ = s.accept()
if mode != "reply":
    c.sendall(b"ready\n")
if mode == "stall":
    time.sleep(60)
req, h = b"", hashlib.sha256()
while True:
    b = c.recv(65536)
    if not b:
        break
    h.update(b)
    req += b if mode == "reply" else b""
if mode == "reply":
    c.sendall(b"pong: " + req + b"x" * 300000 + b"\nend\n")
    c.close()
else:
    open(port_file + ".sha", "w").write(h.hexdigest() + "\n")
    time.sleep(60)
PY
	BG_PIDS+=("$!")
	wait_for_file "$2" '[0-9]'
	PORT=$(cat "$2")
}

@test "printf ping | ztpipe prints the whole reply after its stdin ended" {
	py_server reply "$BATS_TEST_TMPDIR/port"
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
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
}

@test "ztpipe host | head -c 3 after printf abc | ztpipe -l: both exit 0, every time of 20" {
	local round err=$BATS_TEST_TMPDIR/listen.err listener
	for ((round = 1; round <= 20; round++)); do
		: >"$err"
		start_bg bash -c 'printf abc | exec timeout 10 "$1" -l -v 127.0.0.1 0 \
		    2>"$2"' _ "$ZTPIPE" "$err"
		listener=$BG_PID
		wait_for_file "$err" 'listening on'
		PORT=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' "$err")
		# head takes the three bytes and leaves; the FIN comes next
		run --separate-stderr bash -c 'timeout 10 "$1" 127.0.0.1 "$2" \
		    </dev/null | head -c 3; echo " ${PIPESTATUS[*]}"' _ "$ZTPIPE" "$PORT"
		wait_exit "$listener" 10
		echo "round $round: $output, listener $EXIT_STATUS: $stderr $(grep -v 'listening on\|connection from\|stdin closed\|closed its side\|sent [0-9]' "$err")"
		[ "$output" = "abc 0 0" ]
		[ -z "$stderr" ]
		[ "$EXIT_STATUS" -eq 0 ]
	done
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
	wait_exit "$LISTEN_PID" 10
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
	wait_exit "$LISTEN_PID" 10
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
	wait_exit "$LISTEN_PID" 10
	grep -q "connection from 127.0.0.1 port" "$LISTEN_ERR"
	grep -q "closed its side" "$LISTEN_ERR"
	grep -q "received 12345 bytes" "$LISTEN_ERR"
}

# eof_ends_stdout ROLE: the peer sends 3 MB and EOF while our stdin stays
# open; our stdout (a pipe) must end then, well before our stdin does, and
# what we type afterwards must still reach the peer.  ROLE is ours: dial
# (the listener sends) or listen (the dialler sends).
eof_ends_stdout() {
	local f=$BATS_TEST_TMPDIR/payload got=$BATS_TEST_TMPDIR/got
	local mark=$BATS_TEST_TMPDIR/ended in=$BATS_TEST_TMPDIR/in pid peer_out
	local out=$BATS_TEST_TMPDIR/out
	random_file "$f" 3000000
	mkfifo "$in" "$out"
	exec 5<>"$in"	# our stdin: open, written by this test
	# Our stdout is a FIFO that only ztpipe opens: timeout(1), its
	# parent, must not hold a write end of it.
	start_bg bash -c '{ cat >"$1"; echo EOF >"$2"; } <"$3"' _ "$got" "$mark" "$out"
	if [ "$1" = dial ]; then
		LISTEN_IN=$f LISTEN_OUT=$BATS_TEST_TMPDIR/peer.out listen_bg 127.0.0.1 0
		start_bg timeout 60 bash -c 'exec "$0" 127.0.0.1 "$1" <"$2" >"$3"' \
		    "$ZTPIPE" "$PORT" "$in" "$out"
		pid=$BG_PID
		peer_out=$BATS_TEST_TMPDIR/peer.out
	else
		LISTEN_ERR=$BATS_TEST_TMPDIR/listen.err
		start_bg timeout 60 bash -c 'exec "$0" -l -v 127.0.0.1 0 <"$1" >"$2"' \
		    "$ZTPIPE" "$in" "$out" 2>"$LISTEN_ERR"
		pid=$BG_PID
		wait_for_file "$LISTEN_ERR" 'listening on'
		PORT=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' "$LISTEN_ERR")
		start_bg timeout 60 "$ZTPIPE" 127.0.0.1 "$PORT" <"$f" \
		    >"$BATS_TEST_TMPDIR/peer.out"
		LISTEN_PID=$BG_PID
		peer_out=$BATS_TEST_TMPDIR/peer.out
	fi
	# 10 s is only a bound for the hang this is about: stdin stays open
	# for a minute.
	wait_for_file "$mark" EOF
	[ "$(sha "$got")" = "$(sha "$f")" ]
	kill -0 "$pid"		# our stdin is not done: still running
	echo "typed after the peer's EOF" >&5
	exec 5>&-
	wait_exit "$pid" 10
	[ "$EXIT_STATUS" -eq 0 ]
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$peer_out")" = "typed after the peer's EOF" ]
}

# bats test_tags=unix
@test "the peer's EOF ends a dialler's stdout while its stdin stays open" {
	eof_ends_stdout dial
}

# bats test_tags=unix
@test "the peer's EOF ends a listener's stdout while its stdin stays open" {
	eof_ends_stdout listen
}

# bats test_tags=unix
@test "with stdout a socket, the peer's EOF shuts that socket's write side" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 3000000
	LISTEN_IN=$f listen_bg 127.0.0.1 0
	run timeout 60 "$PYTHON" - "$ZTPIPE" "$PORT" "$f" <<'PY'
import socket, subprocess, sys
zt, port, payload = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read()
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
c = socket.create_connection(srv.getsockname())
s, _ = srv.accept()
# ztpipe's stdin and stdout are one TCP socket; c is its other end
p = subprocess.Popen(["timeout", "60", zt, "127.0.0.1", port], stdin=s, stdout=s)
s.close()
c.settimeout(10)	# a bound for the hang only
got = b""
try:
    while (b := c.recv(65536)):
        got += b
except socket.timeout:
    sys.exit("no EOF after %d bytes" % len(got))
if got != payload:
    sys.exit("%d bytes, not the %d sent" % (len(got), len(payload)))
if p.poll() is not None:
    sys.exit("ztpipe ended (%d) with its stdin open" % p.returncode)
c.sendall(b"after the EOF\n")
c.shutdown(socket.SHUT_WR)
sys.exit(p.wait(10))
PY
	echo "$output"
	[ "$status" -eq 0 ]
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/listen.out")" = "after the EOF" ]
}

# bats test_tags=unix
@test "a relay of two ztpipes in front of a web server ends by itself, the file whole" {
	command -v curl >/dev/null || skip "curl not installed"
	local d=$BATS_TEST_TMPDIR web port
	mkdir "$d/www"
	random_file "$d/www/file" 5000000
	start_bg timeout 60 "$PYTHON" -u -m http.server --bind 127.0.0.1 \
	    --directory "$d/www" 0 >"$d/http.out" 2>&1
	wait_for_file "$d/http.out" 'Serving HTTP'
	web=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$d/http.out")
	# curl -> ztpipe -l -> mid -> ztpipe -> web server, and back by a
	# FIFO.  Only the ztpipes open the FIFOs, not their timeout(1)
	# parents, which would hold the ends open; in this order, so that
	# neither open waits for the other.
	mkfifo "$d/back" "$d/mid"
	start_bg bash -c '
	    timeout 60 bash -c '\''exec "$0" -l -v 127.0.0.1 0 >"$1" <"$2"'\'' \
	        "$1" "$2" "$3" 2>"$4" & l=$!
	    timeout 60 bash -c '\''exec "$0" 127.0.0.1 "$1" <"$2" >"$3"'\'' \
	        "$1" "$5" "$2" "$3" 2>"$6"; d=$?
	    wait "$l"; echo "$? $d" >"$7"' _ "$ZTPIPE" "$d/mid" "$d/back" \
	    "$d/l.err" "$web" "$d/d.err" "$d/status"
	wait_for_file "$d/l.err" 'listening on'
	port=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' "$d/l.err")
	run timeout 30 curl -sS -o "$d/got" "http://127.0.0.1:$port/file"
	[ "$status" -eq 0 ]
	[ "$(sha "$d/got")" = "$(sha "$d/www/file")" ]
	# both ztpipes end by themselves (10 s: a bound for the hang only)
	wait_for_file "$d/status" '[0-9]' || { cat "$d/l.err" "$d/d.err"; false; }
	cat "$d/l.err" "$d/d.err"
	[ "$(cat "$d/status")" = "0 0" ]
}

@test "--send-only ends once a server that never closes has every byte" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 5000000
	py_server sink "$BATS_TEST_TMPDIR/port"
	run --separate-stderr timeout 30 "$ZTPIPE" --send-only 127.0.0.1 "$PORT" <"$f"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ -z "$output" ]	# its greeting is not ours to print
	wait_for_file "$BATS_TEST_TMPDIR/port.sha" '[0-9a-f]'
	[ "$(cat "$BATS_TEST_TMPDIR/port.sha")" = "$(sha "$f")" ]
}

@test "--send-only to a server that takes nothing never ends with 0: -i ends it with 1" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 20000000	# more than every buffer on the way
	py_server stall "$BATS_TEST_TMPDIR/port"
	run --separate-stderr timeout 30 "$ZTPIPE" --send-only -i 1 127.0.0.1 "$PORT" <"$f"
	[ "$status" -eq 1 ]
	[ "$stderr" = "ztpipe: no data for 1 s: data unsent; connection reset" ]
}

@test "--send-only with a peer that resets before it has everything: status 1" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 20000000
	"$PYTHON" - "$BATS_TEST_TMPDIR/port" <<'PY' 3>&- &
import socket, struct, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
c, _ = s.accept()
c.recv(1000)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
PY
	BG_PIDS+=("$!")
	wait_for_file "$BATS_TEST_TMPDIR/port" '[0-9]'
	run --separate-stderr timeout 30 "$ZTPIPE" --send-only 127.0.0.1 \
	    "$(cat "$BATS_TEST_TMPDIR/port")" <"$f"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "ztpipe: 127.0.0.1 port "*": Connection reset by peer" ]] || false
}

@test "--send-only -u sends its datagrams and ends without waiting for replies" {
	local got=$BATS_TEST_TMPDIR/got
	LISTEN_OUT=$got listen_bg -u 127.0.0.1 0
	SECONDS=0
	run timeout 30 "$ZTPIPE" -u --send-only -i 20 127.0.0.1 "$PORT" <<<"one datagram"
	[ "$status" -eq 0 ]
	[ "$SECONDS" -lt 15 ]	# not the 20 s -i would wait for replies
	wait_for_size "$got" 13
	[ "$(cat "$got")" = "one datagram" ]
}

@test "a reader that took every byte and left: sender and receiver both exit 0, also on the splice path" {
	# printf abc | ztpipe -l, and ztpipe HOST | head -c 3: head leaves
	# after its 3 bytes, and the splice of the FIN that follows met
	# EPIPE, which was taken for bytes lost (1 run in 4 failed).
	local i lst rc
	printf abc >"$BATS_TEST_TMPDIR/abc"
	for ((i = 0; i < 20; i++)); do
		LISTEN_IN=$BATS_TEST_TMPDIR/abc LISTEN_OUT=/dev/null listen_bg 127.0.0.1 0
		lst=$LISTEN_PID
		rc=$(timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/null \
		    2>"$BATS_TEST_TMPDIR/err" | head -c 3 >"$BATS_TEST_TMPDIR/got";
		    echo "${PIPESTATUS[0]}")
		wait_exit "$lst" 10
		echo "round $i: receiver $rc, sender $EXIT_STATUS: $(cat "$BATS_TEST_TMPDIR/err" "$LISTEN_ERR" | grep -v '^ztpipe: \(listening\|connection from\|sent\|stdin closed\)')"
		[ "$rc" -eq 0 ]
		[ "$EXIT_STATUS" -eq 0 ]
		[ "$(cat "$BATS_TEST_TMPDIR/got")" = abc ]
	done
}
