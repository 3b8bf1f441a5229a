#!/usr/bin/env bats
# -k: many peers at once, whole lines out, stdin broadcast to all.

load helper

# lines CLIENT N: N numbered lines of varied length for one client.
lines() {
	"$PYTHON" -c '
import random, sys
c, n = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(c)
w = sys.stdout.buffer.write
for i in range(n):
    w(b"c%03d %06d %s\n" % (c, i, b"x" * r.randint(0, 400)))' "$@"
}

# check_lines FILE CLIENTS N: every line intact, each client's in order.
check_lines() {
	"$PYTHON" - "$@" <<'PY'
import random, re, sys
f, clients, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
nxt, total = {}, 0
for line in open(f, "rb"):
    total += 1
    m = re.fullmatch(rb"c(\d{3}) (\d{6}) (x*)\n", line)
    if not m:
        sys.exit("torn line %d: %r" % (total, line[:60]))
    c, i = int(m[1]), int(m[2])
    if i != nxt.get(c, 0):
        sys.exit("client %d: line %d after %d" % (c, i, nxt.get(c, 0) - 1))
    nxt[c] = i + 1
if total != clients * n or len(nxt) != clients:
    sys.exit("%d lines from %d clients" % (total, len(nxt)))
PY
}

@test "50 clients x 2,000 lines: exactly 100,000 whole lines, each client in order" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/all.log listen_bg -k 127.0.0.1 0
	local c pids=()
	for ((c = 1; c <= 50; c++)); do
		lines "$c" 2000 | timeout 30 "$ZTPIPE" 127.0.0.1 "$PORT" 3>&- 5>&- &
		pids+=("$!")
	done
	BG_PIDS+=("${pids[@]}")
	for c in "${pids[@]}"; do
		wait_exit "$c" 30
		[ "$EXIT_STATUS" -eq 0 ]
	done
	wait_for_size "$BATS_TEST_TMPDIR/all.log" 100000 -l
	kill -TERM "$LISTEN_PID"
	wait_exit "$LISTEN_PID" 5
	[ "$EXIT_STATUS" -eq 0 ]
	check_lines "$BATS_TEST_TMPDIR/all.log" 50 2000
}

@test "SIGTERM stops a -k listener with status 0, all it received written" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/all.log listen_bg -k 127.0.0.1 0
	lines 1 500 | timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT"
	lines 2 500 | timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT"
	wait_for_size "$BATS_TEST_TMPDIR/all.log" 1000 -l
	kill -TERM "$LISTEN_PID"
	wait_exit "$LISTEN_PID" 5
	[ "$EXIT_STATUS" -eq 0 ]
	check_lines "$BATS_TEST_TMPDIR/all.log" 2 500
}

@test "a half line from a leaving client ends before the next client's line" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/all.log listen_bg -k 127.0.0.1 0
	printf 'no newline at the end' | timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT"
	printf 'next client\n' | timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT"
	wait_for_file "$BATS_TEST_TMPDIR/all.log" 'next client'
	[ "$(cat "$BATS_TEST_TMPDIR/all.log")" = $'no newline at the end\nnext client' ]
}

@test "binary data from a single client arrives intact through -k" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 3000000
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg -k 127.0.0.1 0
	timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" <"$f"
	wait_for_size "$BATS_TEST_TMPDIR/got" 3000000
	kill -TERM "$LISTEN_PID"
	wait_exit "$LISTEN_PID" 5
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$f")" ]
}

@test "a line longer than 64 KiB passes in pieces, said under -v" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg -k 127.0.0.1 0
	"$PYTHON" -c 'import sys; sys.stdout.write("y" * 200000 + "\n")' |
	    timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT"
	wait_for_size "$BATS_TEST_TMPDIR/got" 200001
	kill -TERM "$LISTEN_PID"
	wait_exit "$LISTEN_PID" 5
	[ "$(wc -c <"$BATS_TEST_TMPDIR/got")" -eq 200001 ]
	grep -q 'line longer than 64 KiB, passed on in pieces' "$LISTEN_ERR"
}

# A -k listener whose stdin is a FIFO this test writes (fd 5).
listen_fifo() {
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 5<>"$BATS_TEST_TMPDIR/in"
	LISTEN_IN=$BATS_TEST_TMPDIR/in listen_bg -k "$@" 127.0.0.1 0
}

# client NAME: a dialler with nothing to send; output in NAME.out.
client() {
	start_bg timeout 20 "$ZTPIPE" -v 127.0.0.1 "$PORT" \
	    </dev/null >"$BATS_TEST_TMPDIR/$1.out" 2>"$BATS_TEST_TMPDIR/$1.err"
	eval "${1}_PID=\$BG_PID"
	wait_for_file "$BATS_TEST_TMPDIR/$1.err" 'connected to'
}

@test "stdin goes to every client from the moment it connected, no replay" {
	listen_fifo
	client a
	wait_for_file "$LISTEN_ERR" 'connection from'
	echo "first, for a" >&5
	wait_for_file "$BATS_TEST_TMPDIR/a.out" 'first, for a'
	client b
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c 'connection from' "$LISTEN_ERR")" -eq 2 ] && break
		sleep 0.05
	done
	echo "second, for both" >&5
	wait_for_file "$BATS_TEST_TMPDIR/a.out" 'second, for both'
	wait_for_file "$BATS_TEST_TMPDIR/b.out" 'second, for both'
	[ "$(cat "$BATS_TEST_TMPDIR/b.out")" = "second, for both" ]
	[ "$(cat "$BATS_TEST_TMPDIR/a.out")" = $'first, for a\nsecond, for both' ]
}

@test "after stdin's EOF clients get EOF, later ones at once, and it keeps collecting" {
	listen_fifo
	# a half-closed client still gets the broadcast until stdin ends
	timeout 20 "$ZTPIPE" -v 127.0.0.1 "$PORT" </dev/null \
	    >"$BATS_TEST_TMPDIR/copy" 2>"$BATS_TEST_TMPDIR/copy.err" 3>&- 5>&- &
	local copy=$!
	BG_PIDS+=("$copy")
	wait_for_file "$LISTEN_ERR" 'closed its side'
	random_file "$BATS_TEST_TMPDIR/payload" 1000000
	cat "$BATS_TEST_TMPDIR/payload" >&5
	exec 5>&-
	wait_exit "$copy" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/copy")" = "$(sha "$BATS_TEST_TMPDIR/payload")" ]
	# a later client gets EOF at once, and its lines are still collected
	run timeout 5 "$ZTPIPE" 127.0.0.1 "$PORT" < <(echo "late line")
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	wait_for_file "$BATS_TEST_TMPDIR/listen.out" 'late line'
	kill -0 "$LISTEN_PID"
}

@test "a client that stops reading is dropped; the others keep receiving" {
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 5<>"$BATS_TEST_TMPDIR/in"
	LISTEN_IN=$BATS_TEST_TMPDIR/in listen_bg -k 127.0.0.1 0
	client reader
	# a client that connects and never reads
	start_bg timeout 20 "$PYTHON" -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
time.sleep(20)' "$PORT"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c 'connection from' "$LISTEN_ERR")" -eq 2 ] && break
		sleep 0.05
	done
	head -c 100000000 /dev/zero >&5 3>&- &
	local feeder=$!
	BG_PIDS+=("$feeder")
	wait_for_file "$LISTEN_ERR" 'not reading for 1.5 s, dropped'
	wait_exit "$feeder" 20
	exec 5>&-
	wait_exit "$reader_PID" 20
	[ "$(wc -c <"$BATS_TEST_TMPDIR/reader.out")" -eq 100000000 ]
}

# hold N: N python clients that connect and wait, neither sending nor closing.
hold() {
	start_bg timeout 20 "$PYTHON" -c '
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        for _ in range(int(sys.argv[2]))]
time.sleep(20)' "$PORT" "$1"
}

@test "-m 2: a third client is turned away at once, said under -v" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/all.log listen_bg -k -m 2 127.0.0.1 0
	hold 2
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c 'connection from' "$LISTEN_ERR")" -eq 2 ] && break
		sleep 0.05
	done
	run timeout 5 "$PYTHON" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(3)
sys.exit(0 if s.recv(1) == b"" else 1)' "$PORT"
	[ "$status" -eq 0 ]
	wait_for_file "$LISTEN_ERR" 'refused 127.0.0.1 port [0-9]*: 2 peers already'
}

@test "running out of file descriptors is survived" {
	# A soft and hard limit of 12 fds: stdio, poll pipe, listener, a few peers.
	start_bg bash -c "ulimit -n 12; exec timeout 30 '$ZTPIPE' -lk -v 127.0.0.1 0" \
	    </dev/null >"$BATS_TEST_TMPDIR/all.log" 2>"$BATS_TEST_TMPDIR/err"
	local lpid=$BG_PID
	wait_for_file "$BATS_TEST_TMPDIR/err" 'listening on'
	PORT=$(sed -n 's/.*port \([0-9]*\)$/\1/p' "$BATS_TEST_TMPDIR/err")
	run timeout 10 "$PYTHON" -c '
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(12)]
time.sleep(0.5)
for s in held:
    s.close()
c = socket.create_connection(("127.0.0.1", port))
c.sendall(b"after the storm\n")
c.close()' "$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for_file "$BATS_TEST_TMPDIR/all.log" 'after the storm'
	grep -q 'accept: Too many open files' "$BATS_TEST_TMPDIR/err"
	kill -0 "$lpid"
}

@test "-m above the soft fd limit raises that limit" {
	[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 1024 ] ||
	    skip "hard fd limit below 1024"
	start_bg bash -c "ulimit -Sn 64; exec timeout 20 '$ZTPIPE' -lk -v -m 500 127.0.0.1 0" \
	    </dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/err"
	wait_for_file "$BATS_TEST_TMPDIR/err" 'listening on'
	local pid
	pid=$(pgrep -P "$BG_PID")
	awk '/Max open files/ {print $4}' "/proc/$pid/limits"
	[ "$(awk '/Max open files/ {print $4}' "/proc/$pid/limits")" -ge 500 ]
}
