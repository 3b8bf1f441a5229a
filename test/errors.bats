#!/usr/bin/env bats
# Bad input and bad networks: one clear line, the right status, no hang.

load helper

@test "connection refused: status 1 and a message naming address and port" {
	local port
	port=$(free_port)
	run --separate-stderr timeout 5 "$ZTPIPE" 127.0.0.1 "$port" </dev/null
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "ztpipe: connect to 127.0.0.1 port $port: Connection refused" ]
}

@test "an unknown host: status 1 and the message names it" {
	# bad..host fails inside the resolver, no query leaves the machine.
	run --separate-stderr timeout 5 "$ZTPIPE" bad..host 1 </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == "ztpipe: bad..host: "* ]] || false
}

@test "address in use: status 1 and a message" {
	listen_bg 127.0.0.1 0
	run --separate-stderr timeout 5 "$ZTPIPE" -l 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == *$E_ADDRINUSE* ]] || false
}

@test "address in use: the message names the address tried, :: when none is given" {
	listen_bg 127.0.0.1 0
	run --separate-stderr timeout 5 "$ZTPIPE" -l 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == "ztpipe: listen on 127.0.0.1 port $PORT: "$E_ADDRINUSE ]] || false
	stop_bg
	listen_bg 0
	grep -q "listening on :: port $PORT" "$LISTEN_ERR"
	run --separate-stderr timeout 5 "$ZTPIPE" -l "$PORT" </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == "ztpipe: listen on :: port $PORT: "$E_ADDRINUSE ]] || false
	run --separate-stderr timeout 5 "$ZTPIPE" -l -4 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == "ztpipe: listen on 0.0.0.0 port $PORT: "$E_ADDRINUSE ]] || false
}

@test "-4 with an IPv6 address and -6 with an IPv4 one say so (status 2)" {
	run --separate-stderr timeout 5 "$ZTPIPE" -4 -l ::1 0
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"::1 is not an IPv4 address (-4)"* ]] || false
	run --separate-stderr timeout 5 "$ZTPIPE" -6 127.0.0.1 1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"127.0.0.1 is not an IPv6 address (-6)"* ]] || false
}

@test "-w 1 gives up on a peer that never answers, with status 1" {
	full_backlog
	SECONDS=0
	run --separate-stderr timeout 60 "$ZTPIPE" -w 1 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	[ "$SECONDS" -le 20 ]	# -w 1, not TCP's minutes: a bound for a hang only
	[[ "$stderr" == *"connect to 127.0.0.1 port $PORT: "$E_TIMEDOUT* ]] || false
}

@test "-l -w 1 gives up when no peer comes" {
	run --separate-stderr timeout 10 "$ZTPIPE" -l -w 1 127.0.0.1 0 </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"no connection within 1 s"* ]] || false
}

@test "-l -w with a fraction or a unit gives up after that time and says it as given" {
	local t want
	for t in "500ms:500 ms" "0.2:200 ms" "1.1:1.1 s" "0.005m:300 ms" "1050ms:1.05 s"; do
		want=${t#*:}
		SECONDS=0
		run --separate-stderr timeout 10 "$ZTPIPE" -l -w "${t%%:*}" 127.0.0.1 0 </dev/null
		[ "$status" -eq 1 ]
		[ "$stderr" = "ztpipe: no connection within $want" ]
		[ "$SECONDS" -le 5 ]	# a bound for a hang only
	done
}

# stopped_while_dialling [-v] ARGS...: SIGTERM to "ztpipe ARGS" once it
# waits in poll() (state S: it dials); it exits 1, its stderr in $ERR.
stopped_while_dialling() {
	local pid i
	ERR=$BATS_TEST_TMPDIR/err
	start_bg timeout 60 "$ZTPIPE" "$@" </dev/null >/dev/null 2>"$ERR"
	pid=$(ztpipe_pid "$BG_PID")
	for ((i = 0; i < 200; i++)); do
		[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" = S ] && break
		sleep 0.05
	done
	kill -TERM "$pid"
	wait_exit "$BG_PID" 10
	echo "$*: status $EXIT_STATUS: $(cat "$ERR")"
	[ "$EXIT_STATUS" -eq 1 ]
}

# It waits for the process to sleep in poll(), as /proc says.
# bats test_tags=unix
@test "SIGTERM while dialling (-R, -w): status 1, one line, and the -v summary" {
	local port
	port=$(free_port)	# nothing listens: -R keeps trying
	stopped_while_dialling -R 30 127.0.0.1 "$port"
	[ "$(cat "$ERR")" = "ztpipe: signal 15 while connecting to 127.0.0.1 port $port" ]
	stopped_while_dialling -v -R 30 127.0.0.1 "$port"
	[ "$(grep -c 'signal 15' "$ERR")" -eq 1 ]
	grep -qx "ztpipe: signal 15 while connecting to 127.0.0.1 port $port" "$ERR"
	grep -Eqx 'ztpipe: sent 0 bytes, received 0 bytes in [0-9.]+ s' "$ERR"
	# a target that never answers: -w waits on the handshake
	full_backlog
	stopped_while_dialling -w 30 127.0.0.1 "$PORT"
	[ "$(cat "$ERR")" = "ztpipe: signal 15 while connecting to 127.0.0.1 port $PORT" ]
	stopped_while_dialling -v -w 30 127.0.0.1 "$PORT"
	[ "$(grep -c 'signal 15' "$ERR")" -eq 1 ]
	grep -qx "ztpipe: signal 15 while connecting to 127.0.0.1 port $PORT" "$ERR"
	grep -Eqx 'ztpipe: sent 0 bytes, received 0 bytes in [0-9.]+ s' "$ERR"
}

# bats test_tags=unix
@test "the receiver killed mid-transfer: the sender exits 1 and says so" {
	LISTEN_OUT=/dev/null listen_bg 127.0.0.1 0
	head -c 2000000000 /dev/zero | timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" \
	    2>"$BATS_TEST_TMPDIR/err" 3>&- &
	local sender=$!
	BG_PIDS+=("$sender")
	wait_for_file "$LISTEN_ERR" 'connection from'
	pkill -KILL -P "$LISTEN_PID"	# ztpipe under timeout
	wait_exit "$sender" 10 || { ps -ef | grep -E "ztpipe|head"; cat /proc/$(pgrep -f "^$ZTPIPE 127")/stack; false; }
	# the pipeline's status is ztpipe's
	[ "$EXIT_STATUS" -eq 1 ]
	grep -Eq "ztpipe: 127.0.0.1 port $PORT: (Connection reset by peer|Broken pipe)" \
	    "$BATS_TEST_TMPDIR/err"
}

# bats test_tags=unix
@test "the sender killed mid-transfer: the receiver stops, with a prefix of the data" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 4000000
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg 127.0.0.1 0
	# stdin stays open after the payload (the writer of "hold" is
	# killed in teardown), so the sender never ends by itself
	hold_open "$BATS_TEST_TMPDIR/hold"
	cat "$f" "$BATS_TEST_TMPDIR/hold" 3>&- |
	    timeout 40 "$ZTPIPE" 127.0.0.1 "$PORT" 3>&- &
	local sender=$!
	BG_PIDS+=("$sender")
	wait_for_file "$LISTEN_ERR" 'connection from'
	pkill -KILL -P "$sender"	# ztpipe under timeout
	wait_exit "$LISTEN_PID" 10
	local n
	n=$(wc -c <"$BATS_TEST_TMPDIR/got")
	cmp -n "$n" "$f" "$BATS_TEST_TMPDIR/got"
}

@test "stdout closed early (| head -c 10): stops at once, no message, non-zero" {
	LISTEN_IN=/dev/zero listen_bg 127.0.0.1 0
	run bash -c "timeout 10 '$ZTPIPE' 127.0.0.1 $PORT </dev/null \
	    2>'$BATS_TEST_TMPDIR/err' | head -c 10 | wc -c; echo \${PIPESTATUS[0]}"
	[ "${lines[0]}" = 10 ]
	[ "${lines[1]}" = 1 ]
	[ ! -s "$BATS_TEST_TMPDIR/err" ]
}

@test "stdout's reader leaves while the peer still sends: the receiver exits 1 every time of 20, the sender sees the reset" {
	local round
	for ((round = 1; round <= 20; round++)); do
		LISTEN_IN=/dev/zero LISTEN_OUT=/dev/null listen_bg 127.0.0.1 0
		run bash -c "timeout 10 '$ZTPIPE' 127.0.0.1 $PORT </dev/null \
		    2>'$BATS_TEST_TMPDIR/err' | head -c 10 | wc -c; echo \${PIPESTATUS[0]}"
		wait_exit "$LISTEN_PID" 10
		echo "round $round: receiver ${lines[1]}, sender $EXIT_STATUS"
		[ "${lines[0]}" = 10 ]
		# bytes it did not take kept coming: an error, never a clean end
		[ "${lines[1]}" = 1 ]
		[ ! -s "$BATS_TEST_TMPDIR/err" ]
		[ "$EXIT_STATUS" -eq 1 ]
	done
}

@test "stdout that is /dev/full: a clear message and status 1" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 100000
	LISTEN_IN=$f listen_bg 127.0.0.1 0
	run --separate-stderr bash -c "timeout 10 '$ZTPIPE' 127.0.0.1 $PORT </dev/null >/dev/full"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "ztpipe: write to stdout: No space left on device" ]] || false
}

@test "SIGPIPE never kills it: a peer that vanished is an error message" {
	LISTEN_OUT=/dev/null listen_bg 127.0.0.1 0
	yes | timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	local sender=$!
	BG_PIDS+=("$sender")
	wait_for_file "$LISTEN_ERR" 'connection from'
	kill -TERM "$LISTEN_PID"
	wait_exit "$sender" 10
	[ "$EXIT_STATUS" -eq 1 ]
	[ -s "$BATS_TEST_TMPDIR/err" ]
}

# reset_server PAYLOAD ROUNDS [SYNC]: a server (port in $PORT) that,
# ROUNDS times, takes a connection, reads 1,000 bytes, sends PAYLOAD,
# waits until the client's kernel has acknowledged every byte it sent, and
# closes with the client's later bytes unread: the kernel sends a reset.
# With SYNC (a path prefix) and HEAD it sends the first HEAD bytes, waits
# until they are taken, writes SYNC.ready, waits for SYNC.go (the client
# is stopped then), sends of the rest only what the client's kernel still
# takes, writes how many bytes the client's kernel holds in all to
# SYNC.sent, resets, and writes SYNC.done.
reset_server() {
	rm -f "$BATS_TEST_TMPDIR/port"
	start_bg timeout 120 "$PYTHON" - "$@" "$BATS_TEST_TMPDIR/port" <<'PY'
import fcntl, os, socket, struct, sys, termios, time
payload = open(sys.argv[1], "rb").read()
rounds, sync, portfile = int(sys.argv[2]), sys.argv[3:-1], sys.argv[-1]
head = int(sync[1]) if sync else 0
SIOCINQ, SIOCOUTQ = termios.FIONREAD, termios.TIOCOUTQ
def queued(c, what):
    return struct.unpack("i", fcntl.ioctl(c, what, b"\0" * 4))[0]
def until(cond, why):
    end = time.time() + 30
    while not cond():
        if time.time() > end:
            sys.exit(why)
        time.sleep(0.005)
def mark(name, text="\n"):
    open(sync[0] + name + ".new", "w").write(text)
    os.rename(sync[0] + name + ".new", sync[0] + name)
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
open(portfile + ".new", "w").write("%d\n" % s.getsockname()[1])
os.rename(portfile + ".new", portfile)
for _ in range(rounds):
    c, _ = s.accept()
    got = b""
    while len(got) < 1000:
        b = c.recv(1000 - len(got))
        if not b:
            sys.exit("EOF before 1,000 bytes")
        got += b
    if sync:
        c.sendall(payload[:head])
        until(lambda: queued(c, SIOCOUTQ) == 0, "the client never took the head")
        mark(".ready")
        until(lambda: os.path.exists(sync[0] + ".go"), "never told to go")
        # The client is stopped: send 256 KiB at a time while its kernel
        # takes them (on loopback it acknowledges at once; smaller steps
        # take longer than the wait below once its window has grown).
        sent = head
        while sent < len(payload):
            sent += c.send(payload[sent:sent + 262144])
            end = time.time() + 0.5
            while queued(c, SIOCOUTQ) and time.time() < end:
                time.sleep(0.005)
            if queued(c, SIOCOUTQ):
                break
        # What is still unacknowledged never reaches it.
        held, end = -1, 0
        while held != sent - queued(c, SIOCOUTQ) or time.time() < end:
            if held != sent - queued(c, SIOCOUTQ):
                held, end = sent - queued(c, SIOCOUTQ), time.time() + 0.3
            time.sleep(0.01)
        until(lambda: queued(c, SIOCINQ) > 0, "nothing left unread")
        mark(".sent", "%d\n" % held)
        c.close()	# unread input: a reset, with unsent bytes dropped
        mark(".done")
        continue
    else:
        c.sendall(payload)
    until(lambda: queued(c, SIOCOUTQ) == 0, "the client never took it all")
    until(lambda: queued(c, SIOCINQ) > 0, "nothing left unread")
    c.close()		# unread input: a reset
    if sync:
        mark(".done")
PY
	wait_for_file "$BATS_TEST_TMPDIR/port" '[0-9]'
	PORT=$(cat "$BATS_TEST_TMPDIR/port")
}

# reset_after_data PATH: five times, ztpipe sends an endless stdin to
# reset_server and must print every byte the server sent before its
# reset, then exit 1 with one line naming the peer.  PATH copy: stdin
# /dev/zero and stdout a file; PATH splice: stdin and stdout pipes.
reset_after_data() {
	local f=$BATS_TEST_TMPDIR/payload got=$BATS_TEST_TMPDIR/got
	local err=$BATS_TEST_TMPDIR/err round rc
	random_file "$f" 3000000
	reset_server "$f" 5
	for ((round = 1; round <= 5; round++)); do
		rc=0
		if [ "$1" = splice ]; then
			bash -c 'cat /dev/zero | timeout 30 "$1" 127.0.0.1 "$2" 2>"$3" |
			    cat >"$4"; exit "${PIPESTATUS[1]}"' _ \
			    "$ZTPIPE" "$PORT" "$err" "$got" || rc=$?
		else
			timeout 30 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/zero \
			    >"$got" 2>"$err" || rc=$?
		fi
		echo "round $round: status $rc, $(stat -c %s "$got") bytes: $(cat "$err")"
		[ "$rc" -eq 1 ]
		[ "$(sha "$got")" = "$(sha "$f")" ]
		[ "$(wc -l <"$err")" -eq 1 ]
		grep -Eqx "ztpipe: 127.0.0.1 port $PORT: (Connection reset by peer|Broken pipe)" "$err"
	done
}

@test "a peer that sends 3 MB and resets: all 3 MB reach stdout (a file), then status 1" {
	reset_after_data copy
}

@test "a peer that sends 3 MB and resets: all 3 MB reach stdout (a pipe, spliced), then status 1" {
	reset_after_data splice
}

# reset_while_stopped PATH: ztpipe is stopped while the server's bytes
# and then its reset arrive, so both wait for it at once when it runs
# again: the bytes must still come first.  Twice per path: 100 bytes, and
# 3 MB then as much more as the client's kernel takes (more than one
# buffer of ztpipe's once the window has grown).
reset_while_stopped() {
	local f=$BATS_TEST_TMPDIR/payload got=$BATS_TEST_TMPDIR/got
	local err=$BATS_TEST_TMPDIR/err sync=$BATS_TEST_TMPDIR/sync size pid zt n
	for size in 0:100 3000000:20000000; do
		random_file "$f" "${size#*:}"
		rm -f "$sync".*
		reset_server "$f" 1 "$sync" "${size%:*}"
		if [ "$1" = splice ]; then
			start_bg bash -c 'cat /dev/zero | timeout 30 "$1" 127.0.0.1 "$2" 2>"$3" |
			    cat >"$4"; exit "${PIPESTATUS[1]}"' _ \
			    "$ZTPIPE" "$PORT" "$err" "$got"
		else
			start_bg timeout 30 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/zero \
			    >"$got" 2>"$err"
		fi
		pid=$BG_PID
		wait_for_file "$sync.ready" ''
		zt=$(pgrep -f "^$ZTPIPE 127.0.0.1 $PORT\$")
		kill -STOP "$zt"
		touch "$sync.go"
		wait_for_file "$sync.done" ''
		kill -CONT "$zt"
		wait_exit "$pid" 20
		n=$(cat "$sync.sent")
		echo "$1, ${size#*:} bytes: status $EXIT_STATUS, $(stat -c %s "$got") of $n bytes: $(cat "$err")"
		[ "$EXIT_STATUS" -eq 1 ]
		[ "$(stat -c %s "$got")" -eq "$n" ]
		cmp -n "$n" "$f" "$got"
		[ "$(wc -l <"$err")" -eq 1 ]
		grep -Eqx "ztpipe: 127.0.0.1 port $PORT: (Connection reset by peer|Broken pipe)" "$err"
	done
}

# bats test_tags=unix
@test "bytes and then a reset arrive while ztpipe is stopped: the bytes still reach stdout (a file)" {
	reset_while_stopped copy
}

# bats test_tags=unix
@test "bytes and then a reset arrive while ztpipe is stopped: the bytes still reach stdout (a pipe)" {
	reset_while_stopped splice
}

# bats test_tags=unix
@test "a sender whose peer has closed exits 1 when its last line meets the reset" {
	local in=$BATS_TEST_TMPDIR/in err=$BATS_TEST_TMPDIR/err
	mkfifo "$in"
	exec 5<>"$in"	# the sender's stdin: written below, then closed
	# A peer that takes the connection and closes it at once, for good.
	start_bg timeout 30 "$PYTHON" -c '
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
open(sys.argv[1] + ".new", "w").write("%d\n" % s.getsockname()[1])
os.rename(sys.argv[1] + ".new", sys.argv[1])
c, _ = s.accept()
c.close()
open(sys.argv[2], "w").write("closed\n")
' "$BATS_TEST_TMPDIR/port" "$BATS_TEST_TMPDIR/closed"
	wait_for_file "$BATS_TEST_TMPDIR/port" '[0-9]'
	start_bg timeout 30 "$ZTPIPE" -v 127.0.0.1 "$(cat "$BATS_TEST_TMPDIR/port")" \
	    <"$in" >/dev/null 2>"$err"
	local sender=$BG_PID
	wait_for_file "$BATS_TEST_TMPDIR/closed" closed
	wait_for_file "$err" 'closed its side'
	echo "important" >&5
	exec 5>&-
	wait_exit "$sender" 10
	cat "$err"
	[ "$EXIT_STATUS" -eq 1 ]
	grep -Eq "^ztpipe: 127.0.0.1 port [0-9]+: (Connection reset by peer|Broken pipe)$" "$err"
}
