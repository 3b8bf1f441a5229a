#!/usr/bin/env bats
# -k: many peers at once, whole lines out, stdin broadcast to all.

load helper

# lines CLIENTS N: in $BATS_TEST_TMPDIR/lines.C for C in 1..CLIENTS, N
# numbered lines of varied length for client C.  One python for all:
# clients then start as fast as ztpipe does, not as python does.
lines() {
	"$PYTHON" -c '
import random, sys
clients, n, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for c in range(1, clients + 1):
    r = random.Random(c)
    with open("%s/lines.%d" % (d, c), "wb") as f:
        f.write(b"".join(b"c%03d %06d %s\n" % (c, i, b"x" * r.randint(0, 400))
                         for i in range(n)))' "$1" "$2" "$BATS_TEST_TMPDIR"
}

@test "50 clients x 2,000 lines: exactly 100,000 whole lines, each client in order" {
	lines 50 2000
	LISTEN_OUT=$BATS_TEST_TMPDIR/all.log listen_bg -k 127.0.0.1 0
	local c pids=()
	for ((c = 1; c <= 50; c++)); do
		timeout 120 "$ZTPIPE" 127.0.0.1 "$PORT" <"$BATS_TEST_TMPDIR/lines.$c" \
		    3>&- 5>&- &
		pids+=("$!")
	done
	BG_PIDS+=("${pids[@]}")
	for c in "${pids[@]}"; do
		wait_exit "$c" 120
		[ "$EXIT_STATUS" -eq 0 ]
	done
	wait_for_size "$BATS_TEST_TMPDIR/all.log" 100000 -l
	kill -TERM "$LISTEN_PID"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	check_lines "$BATS_TEST_TMPDIR/all.log" 50 2000
}

@test "SIGTERM stops a -k listener with status 0, all it received written" {
	lines 2 500
	LISTEN_OUT=$BATS_TEST_TMPDIR/all.log listen_bg -k 127.0.0.1 0
	timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" <"$BATS_TEST_TMPDIR/lines.1"
	timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" <"$BATS_TEST_TMPDIR/lines.2"
	wait_for_size "$BATS_TEST_TMPDIR/all.log" 1000 -l
	kill -TERM "$LISTEN_PID"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	check_lines "$BATS_TEST_TMPDIR/all.log" 2 500
}

@test "SIGTERM to a -k listener keeps what its kernel already acknowledged: every line written, or status 1 and a line saying what was not" {
	local out=$BATS_TEST_TMPDIR/out got=$BATS_TEST_TMPDIR/got reader st
	lines 8 230		# about 50 KB a client: within its receive window
	mkfifo "$out"
	exec 5<>"$out"	# stdout held open, not read: the listener stalls
	LISTEN_OUT=$out listen_bg -k 127.0.0.1 0
	# Eight clients send and shut down writing, and wait until the
	# listener's kernel has acknowledged every byte: as far as they can
	# tell the lines are delivered, and they leave (status 0).
	run timeout 30 "$PYTHON" -c '
import fcntl, socket, struct, sys, time
port, d, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
for c, s in enumerate(socks, 1):
    s.sendall(open("%s/lines.%d" % (d, c), "rb").read())
    s.shutdown(socket.SHUT_WR)
for s in socks:	# SIOCOUTQ: bytes the peer has not acknowledged
    while struct.unpack("i", fcntl.ioctl(s, 0x5411, b"\0" * 4))[0]:
        time.sleep(0.01)
print("acknowledged")' "$PORT" "$BATS_TEST_TMPDIR" 8
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = acknowledged ]
	kill -TERM "$(ztpipe_pid "$LISTEN_PID")"
	cat "$out" >"$got" 3>&- 5>&- &
	reader=$!
	BG_PIDS+=("$reader")
	wait_exit "$LISTEN_PID" 10
	st=$EXIT_STATUS
	exec 5>&-
	wait_exit "$reader" 10
	echo "listener: status $st, $(wc -l <"$got") lines"
	cat "$LISTEN_ERR"
	if [ "$st" -eq 0 ]; then
		check_lines "$got" 8 230
	else
		[ "$st" -eq 1 ]
		grep -Eq "^ztpipe: signal $TERM_NO: .*received not written" "$LISTEN_ERR"
	fi
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
	wait_exit "$LISTEN_PID" 10
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$f")" ]
}

@test "a line longer than 64 KiB passes in pieces, said under -v" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg -k 127.0.0.1 0
	"$PYTHON" -c 'import sys; sys.stdout.write("y" * 200000 + "\n")' |
	    timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT"
	wait_for_size "$BATS_TEST_TMPDIR/got" 200001
	kill -TERM "$LISTEN_PID"
	wait_exit "$LISTEN_PID" 10
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

# wait_conns N: until the listener has noted N connections (10 s).
wait_conns() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(grep -c 'connection from' "$LISTEN_ERR")" -ge "$1" ] && return 0
		sleep 0.05
	done
	echo "$(grep -c 'connection from' "$LISTEN_ERR") connections, not $1" >&2
	return 1
}

@test "-m 2: a third client is turned away at once with a reset, said under -v" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/all.log listen_bg -k -m 2 127.0.0.1 0
	hold 2
	wait_conns 2
	# A reset, not a clean EOF that looks like "nothing to say".
	expect_reset "$PORT"
	wait_for_file "$LISTEN_ERR" 'refused 127.0.0.1 port [0-9]*: 2 peers already'
}

@test "a client refused by -m with something to say exits 1: Connection reset by peer" {
	local try
	# stdin an open silent pipe: the held clients are not sent EOF
	hold_open "$BATS_TEST_TMPDIR/in"
	LISTEN_IN=$BATS_TEST_TMPDIR/in LISTEN_OUT=$BATS_TEST_TMPDIR/all.log \
	    listen_bg -k -d -m 1 127.0.0.1 0
	hold 1
	wait_conns 1
	for try in 1 2 3; do
		run --separate-stderr timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" <<<"important $try"
		echo "try $try: status $status: $stderr"
		[ "$status" -eq 1 ]
		# the reset may come during connect() or after it
		[[ "$stderr" =~ ^ztpipe:\ (connect\ to\ )?127\.0\.0\.1\ port\ $PORT:\ Connection\ reset\ by\ peer$ ]] || false
	done
	[ "$(grep -c 'refused 127.0.0.1 port [0-9]*: 1 peers\{0,1\} already' "$LISTEN_ERR")" -eq 3 ]
	[ ! -s "$BATS_TEST_TMPDIR/all.log" ]
}

# bats test_tags=unix
@test "running out of file descriptors is survived" {
	# A soft and hard limit of 12 fds: stdio, poll pipe, listener, a few peers.
	start_bg bash -c "ulimit -n 12; exec timeout 30 '$ZTPIPE' -lk -v 127.0.0.1 0" \
	    </dev/null >"$BATS_TEST_TMPDIR/all.log" 2>"$BATS_TEST_TMPDIR/err"
	local lpid=$BG_PID
	wait_for_file "$BATS_TEST_TMPDIR/err" 'listening on'
	PORT=$(sed -n 's/.*port \([0-9]*\)$/\1/p' "$BATS_TEST_TMPDIR/err")
	# The clients close once the listener has run out (not after a guess).
	run timeout 30 "$PYTHON" -c '
import socket, sys, time
port, err = int(sys.argv[1]), sys.argv[2]
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(12)]
end = time.time() + 20
# the words of glibc, then of musl
while not any(w in open(err, "rb").read() for w in
              (b"Too many open files", b"No file descriptors available")):
    if time.time() > end:
        sys.exit("the listener never ran out of fds")
    time.sleep(0.02)
for s in held:
    s.close()
c = socket.create_connection(("127.0.0.1", port))
c.sendall(b"after the storm\n")
c.close()' "$PORT" "$BATS_TEST_TMPDIR/err"
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for_file "$BATS_TEST_TMPDIR/all.log" 'after the storm'
	# glibc's words, then musl's
	grep -Eq 'accept: (Too many open files|No file descriptors available)' \
	    "$BATS_TEST_TMPDIR/err"
	kill -0 "$lpid"
}

# bats test_tags=unix
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

# stuck_client HOW: a -k listener broadcasts an endless stream to one
# ztpipe client that stops reading (HOW stop: SIGSTOPped; HOW stdout: its
# stdout a pipe nobody reads).  Dropped, it must get a reset, not a clean
# end, since the stream was cut: once it runs and reads again it exits 1.
stuck_client() {
	local err=$BATS_TEST_TMPDIR/stuck.err client pid
	listen_fifo
	if [ "$1" = stdout ]; then
		mkfifo "$BATS_TEST_TMPDIR/stuck.out"
		exec 6<>"$BATS_TEST_TMPDIR/stuck.out"	# held, never read
	fi
	start_bg timeout 60 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/null \
	    >"$BATS_TEST_TMPDIR/stuck.out" 2>"$err" 6>&-
	client=$BG_PID
	pid=$(ztpipe_pid "$client")
	wait_for_file "$LISTEN_ERR" 'closed its side'
	[ "$1" = stdout ] || kill -STOP "$pid"
	start_bg cat /dev/zero >&5
	wait_for_file "$LISTEN_ERR" 'not reading for 1.5 s, dropped'
	if [ "$1" = stdout ]; then
		cat "$BATS_TEST_TMPDIR/stuck.out" >/dev/null 3>&- &
		BG_PIDS+=("$!")
		exec 6>&-
	else
		kill -CONT "$pid"
	fi
	wait_exit "$client" 30
	echo "dropped client: status $EXIT_STATUS: $(cat "$err")"
	[ "$EXIT_STATUS" -eq 1 ]
	[ "$(cat "$err")" = "ztpipe: 127.0.0.1 port $PORT: Connection reset by peer" ]
	kill -0 "$LISTEN_PID"
}

# bats test_tags=unix
@test "a stopped client dropped as stuck gets a reset: it exits 1 once continued" {
	stuck_client stop
}

# bats test_tags=unix
@test "a client whose stdout stalled, dropped as stuck, exits 1 once its stdout drains" {
	stuck_client stdout
}

@test "ten clients that connect and close at once never lock out -m 10" {
	listen_fifo -m 10	# stdin open and silent
	timeout 20 "$PYTHON" -c '
import socket, sys
for _ in range(10):
    socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()' "$PORT"
	wait_conns 10
	# A real client still gets in, and its lines arrive.
	start_bg timeout 30 "$ZTPIPE" 127.0.0.1 "$PORT" \
	    < <(printf 'a real line\nand another\n') >/dev/null
	wait_for_file "$BATS_TEST_TMPDIR/listen.out" 'and another' ||
	    { cat "$LISTEN_ERR"; false; }
	# A reader that joins later gets what stdin says; saying it to the
	# ten that left is no "Connection reset by peer" to report.
	client reader
	echo "for everyone still here" >&5
	wait_for_file "$BATS_TEST_TMPDIR/reader.out" 'for everyone still here'
	cat "$LISTEN_ERR"
	run ! grep -q 'refused' "$LISTEN_ERR"
	run ! grep -q 'Connection reset by peer' "$LISTEN_ERR"
	[ "$(cat "$BATS_TEST_TMPDIR/listen.out")" = $'a real line\nand another' ]
}

# bats test_tags=unix
@test "40 clients that send a line and close while stdout is slow, under ulimit -n 24: no crash, all lines arrive" {
	local out=$BATS_TEST_TMPDIR/all.log err=$BATS_TEST_TMPDIR/err go=$BATS_TEST_TMPDIR/go i n
	lines 1 10000		# 2 MB: more than stdout's pipe holds
	mkfifo "$BATS_TEST_TMPDIR/stdout"
	# stdout's reader waits for go, then reads: a slow pipe.  It opens
	# the FIFO itself: opened here, the open would wait for a writer.
	start_bg bash -c 'exec <"$2"; while [ ! -e "$1" ]; do sleep 0.05; done
	    exec cat' _ "$go" "$BATS_TEST_TMPDIR/stdout" >"$out"
	start_bg bash -c "ulimit -n 24; exec timeout 60 '$ZTPIPE' -lk -v 127.0.0.1 0" \
	    </dev/null >"$BATS_TEST_TMPDIR/stdout" 2>"$err"
	local lpid=$BG_PID
	wait_for_file "$err" 'listening on'
	PORT=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' "$err")
	timeout 30 "$ZTPIPE" 127.0.0.1 "$PORT" <"$BATS_TEST_TMPDIR/lines.1"
	timeout 30 "$PYTHON" -c '
import socket, sys
for i in range(40):
    with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as c:
        c.sendall(b"closed client %02d\n" % i)' "$PORT" ||
	    echo "the clients could not all connect"	# judged below
	# Until it has taken all 40, or run out of fds, or died.
	for ((i = 0; i < 400; i++)); do
		kill -0 "$lpid" 2>/dev/null || break
		grep -q 'Too many open files' "$err" && break
		[ "$(grep -c 'connection from' "$err")" -ge 41 ] && break
		sleep 0.05
	done
	touch "$go"
	wait_for_size "$out" 10040 -l || true
	cat "$err" | grep -v 'connection from\|closed its side' || true
	run ! grep -q 'poll' "$err"
	kill -0 "$lpid"
	[ "$(wc -l <"$out")" -eq 10040 ]
	[ "$(grep -c '^closed client' "$out")" -eq 40 ]
	[ "$(grep '^closed client' "$out" | sort -u | wc -l)" -eq 40 ]
}

# bats test_tags=unix
@test "an idle -lk -m 1000000 holds under 4 MiB" {
	[[ $ZTPIPE != *-san ]] || skip "RSS is not meaningful under ASan"
	local pid rss
	listen_bg -k -m 1000000 127.0.0.1 0
	pid=$(ztpipe_pid "$LISTEN_PID")
	# A client served and gone: the loop has surely gone round, so
	# whatever it touches each round is counted, at any speed.
	printf 'hello\n' | timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT"
	wait_for_file "$BATS_TEST_TMPDIR/listen.out" hello
	wait_for_file "$LISTEN_ERR" 'closed its side'
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
	echo "idle RSS $rss KiB"
	[ "$rss" -lt 4096 ]
}

@test "a line of exactly 64 KiB that arrived whole is not said to pass in pieces" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg -k 127.0.0.1 0
	{ head -c 65535 /dev/zero | tr '\0' y; echo; } >"$BATS_TEST_TMPDIR/line"
	timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" <"$BATS_TEST_TMPDIR/line"
	wait_for_size "$BATS_TEST_TMPDIR/got" 65536
	cmp "$BATS_TEST_TMPDIR/line" "$BATS_TEST_TMPDIR/got"
	run ! grep -q 'passed on in pieces' "$LISTEN_ERR"
	# one byte more is a longer line: said
	{ head -c 65536 /dev/zero | tr '\0' z; echo; } >"$BATS_TEST_TMPDIR/line2"
	timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" <"$BATS_TEST_TMPDIR/line2"
	wait_for_size "$BATS_TEST_TMPDIR/got" $((65536 + 65537))
	cmp <(cat "$BATS_TEST_TMPDIR/line" "$BATS_TEST_TMPDIR/line2") "$BATS_TEST_TMPDIR/got"
	wait_for_file "$LISTEN_ERR" 'line longer than 64 KiB, passed on in pieces'
	[ "$(grep -c 'passed on in pieces' "$LISTEN_ERR")" -eq 1 ]
}

# bats test_tags=unix
@test "a client reset while its lines wait for a stalled stdout is said as a reset, not taken for a close" {
	local out=$BATS_TEST_TMPDIR/out err=$BATS_TEST_TMPDIR/err port cport
	# stdout a FIFO nobody reads yet: the client's lines wait in its
	# socket, unread, when the reset comes; stdin open and quiet: the
	# client is still written to, with nothing to write
	mkfifo "$out"
	exec 5<>"$out"
	hold_open "$BATS_TEST_TMPDIR/in"
	port=$(free_port)
	start_bg timeout 30 "$ZTPIPE" -lk 127.0.0.1 "$port" \
	    <"$BATS_TEST_TMPDIR/in" >"$out" 2>"$err"
	wait_for_port "$port"
	cport=$(timeout 20 "$PYTHON" -c '
import socket, struct, subprocess, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setblocking(False)
data, sent, t = b"line of text\n" * 300000, 0, time.time()
while sent < len(data) and time.time() - t < 5:
    try:
        sent += s.send(data[sent:])
    except BlockingIOError:
        time.sleep(0.01)
# until the listener leaves bytes unread in its socket
while not subprocess.run(["ss", "-Htn", "sport = :%s" % sys.argv[1]],
        capture_output=True, text=True).stdout.split()[1:2] != ["0"]:
    time.sleep(0.05)
print(s.getsockname()[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()' "$port")
	# (a taken error shows only later: give it the time to be taken;
	# the pass does not depend on it)
	sleep 0.5
	start_bg cat "$out" >/dev/null
	wait_for_file "$err" "127.0.0.1 port $cport"
	echo "listener: $(cat "$err")"
	[ "$(cat "$err")" = "ztpipe: 127.0.0.1 port $cport: Connection reset by peer" ]
	exec 5>&-
}
