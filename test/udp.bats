#!/usr/bin/env bats
# UDP (-u): clients, listeners, -lk, --allow, -z, and the other netcats.

load helper

# setup writes $UDP_PY, a small UDP peer in python; udp_py CMD ARGS... runs it.
#   serve PORTFILE LOG [REPLY...]  bind 127.0.0.1:0, write the port to
#       PORTFILE; log each datagram's length (and its bytes, escaped) to
#       LOG; answer each with the REPLY words ("echo": the datagram back),
#       after $DELAY seconds.
#   send PORT OUT SECS [MSG...]  from a fresh socket (its port written to
#       OUT.port), send each MSG (python escapes such as \n, \x00), then
#       write what comes back to OUT until SECS pass with nothing.
setup() {
	UDP_PY=$BATS_TEST_TMPDIR/udp.py
	cat >"$UDP_PY" <<'PY'
import os, socket, sys, time
cmd, args = sys.argv[1], sys.argv[2:]
dec = lambda s: s.encode().decode("unicode_escape").encode("latin-1")
host = os.environ.get("HOST", "127.0.0.1")
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                  socket.SOCK_DGRAM)
s.bind((host, 0))
if cmd == "serve":
    portfile, log, replies = args[0], args[1], args[2:]
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    while True:
        data, peer = s.recvfrom(70000)
        with open(log, "a") as f:
            f.write("%d %r\n" % (len(data), data))
        time.sleep(float(os.environ.get("DELAY", "0")))
        for r in replies:
            s.sendto(data if r == "echo" else dec(r), peer)
else:
    port, out, secs, msgs = int(args[0]), args[1], float(args[2]), args[3:]
    with open(out + ".port", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    for m in msgs:
        s.sendto(dec(m), (host, port))
    s.settimeout(secs)
    with open(out, "ab") as f:
        try:
            while secs > 0:
                f.write(s.recv(70000))
                f.flush()
        except socket.timeout:
            pass
PY
}

udp_py() {
	"$PYTHON" "$UDP_PY" "$@"
}

# A UDP port nobody uses right now.
free_udp_port() {
	"$PYTHON" -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# serve_bg ARGS...: udp_py serve in the background; sets SPORT.
serve_bg() {
	local pf=$BATS_TEST_TMPDIR/sport
	rm -f "$pf"
	start_bg timeout 30 "$PYTHON" "$UDP_PY" serve "$pf" "$@"
	wait_for_file "$pf" .
	SPORT=$(cat "$pf")
}

need() {
	command -v "$1" >/dev/null || skip "$1 not installed"
}

OUT() { printf '%s' "$BATS_TEST_TMPDIR/listen.out"; }

@test "a client's datagram arrives byte for byte and the reply is printed" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 60000
	serve_bg "$BATS_TEST_TMPDIR/log" echo
	timeout 10 "$ZTPIPE" -u 127.0.0.1 "$SPORT" <"$f" >"$BATS_TEST_TMPDIR/got"

	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$f")" ]
	[ "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR/log")" = 60000 ]
}

@test "each stdin read is one datagram; NUL, newlines and replies exact" {
	serve_bg "$BATS_TEST_TMPDIR/log" 'one\n' 'two' '\x00'
	printf 'a\0b\nc' | timeout 10 "$ZTPIPE" -u 127.0.0.1 "$SPORT" \
	    >"$BATS_TEST_TMPDIR/got"
	[ "$(cat "$BATS_TEST_TMPDIR/log")" = "5 b'a\\x00b\\nc'" ]
	[ "$(od -An -c "$BATS_TEST_TMPDIR/got" | tr -s ' ')" = \
	    " o n e \\n t w o \\0" ]
}

@test "after stdin ends a client waits for a late reply, then exits 0" {
	DELAY=0.5 serve_bg "$BATS_TEST_TMPDIR/log" 'late reply'
	run --separate-stderr timeout 10 "$ZTPIPE" -u -v 127.0.0.1 "$SPORT" \
	    <<<query
	[ "$status" -eq 0 ]
	[ "$output" = "late reply" ]
	[[ "$stderr" == *"no data for 1 s, ending"* ]] || false
}

@test "-i SECS sets how long a client waits for replies" {
	DELAY=1.5 serve_bg "$BATS_TEST_TMPDIR/log" 'later'
	run timeout 10 "$ZTPIPE" -u -i 3 127.0.0.1 "$SPORT" <<<query
	[ "$status" -eq 0 ]
	[ "$output" = later ]
}

@test "-d: a client receives until a signal, which ends it with 0" {
	start_bg timeout 20 "$ZTPIPE" -u -d -v 127.0.0.1 "$(free_udp_port)" \
	    </dev/null 2>"$BATS_TEST_TMPDIR/err"
	local pid=$BG_PID
	wait_for_file "$BATS_TEST_TMPDIR/err" 'connected to'
	sleep 1.5	# past the 1 s a client without -d would wait
	kill -0 "$pid"
	kill -TERM "$pid"
	wait_exit "$pid" 5
	[ "$EXIT_STATUS" -eq 0 ]
}

@test "nothing listens: one line naming the address and port, status 1" {
	run --separate-stderr timeout 10 "$ZTPIPE" -u 127.0.0.1 \
	    "$(free_udp_port)" <<<ping
	[ "$status" -eq 1 ]
	[[ "$stderr" =~ ^ztpipe:\ udp\ 127\.0\.0\.1\ port\ [0-9]+:\ Connection\ refused$ ]] || false
}

@test "a listener answers its first sender and ignores the others (-v)" {
	local d=$BATS_TEST_TMPDIR
	mkfifo "$d/in"
	exec 5<>"$d/in"
	LISTEN_IN=$d/in listen_bg -u 127.0.0.1 0
	start_bg timeout 20 "$PYTHON" "$UDP_PY" send "$PORT" "$d/a" 3 from-a
	wait_for_file "$LISTEN_ERR" 'datagram from'
	udp_py send "$PORT" "$d/b" 0.2 from-b from-b again-b
	wait_for_file "$LISTEN_ERR" 'ignored: not the peer'
	printf 'answer' >&5
	wait_for_size "$d/a" 6
	[ "$(cat "$d/a")" = answer ]
	[ ! -s "$d/b" ]
	[ "$(cat "$(OUT)")" = from-a ]
	[ "$(grep -c 'ignored' "$LISTEN_ERR")" -eq 1 ]
	exec 5>&-
	kill -TERM "$LISTEN_PID"
	wait_exit "$LISTEN_PID" 5
	[ "$EXIT_STATUS" -eq 0 ]
	grep -q '3 datagrams ignored' "$LISTEN_ERR"
}

@test "a listener keeps stdin unread until the first datagram, then sends it" {
	printf 'waiting for you' >"$BATS_TEST_TMPDIR/early"
	LISTEN_IN=$BATS_TEST_TMPDIR/early listen_bg -u 127.0.0.1 0
	sleep 0.3	# time to read stdin, were it read too early
	udp_py send "$PORT" "$BATS_TEST_TMPDIR/a" 2 hello
	[ "$(cat "$BATS_TEST_TMPDIR/a")" = "waiting for you" ]
	[ "$(cat "$(OUT)")" = hello ]
	# stdin's end does not end it; a signal does, with 0.
	kill -0 "$LISTEN_PID"
	kill -TERM "$LISTEN_PID"
	wait_exit "$LISTEN_PID" 5
	[ "$EXIT_STATUS" -eq 0 ]
}

@test "a signal with stdin data left unsent ends a listener with 1" {
	random_file "$BATS_TEST_TMPDIR/big" 100000
	LISTEN_IN=$BATS_TEST_TMPDIR/big listen_bg -u 127.0.0.1 0
	kill -TERM "$LISTEN_PID"
	wait_exit "$LISTEN_PID" 5
	[ "$EXIT_STATUS" -eq 1 ]
	grep -qx "ztpipe: signal $TERM_NO: data unsent" "$LISTEN_ERR"
}

@test "-i ends a listener with 0, counting from the start" {
	run --separate-stderr timeout 10 "$ZTPIPE" -u -l -i 1 127.0.0.1 0 \
	    </dev/null
	[ "$status" -eq 0 ]
}

@test "-i counts from the last datagram" {
	listen_bg -u -i 2 127.0.0.1 0
	udp_py send "$PORT" "$BATS_TEST_TMPDIR/a" 0 one
	wait_for_size "$(OUT)" 3
	kill -0 "$LISTEN_PID"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	grep -q 'no data for 2 s' "$LISTEN_ERR"
}

@test "-w bounds a listener's wait for the first datagram: status 1" {
	run --separate-stderr timeout 10 "$ZTPIPE" -u -l -w 1 127.0.0.1 0 \
	    </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"within 1 s"* ]] || false
}

@test "-u -lk: datagrams from many senders, each whole on its own line" {
	local d=$BATS_TEST_TMPDIR i
	listen_bg -u -k 127.0.0.1 0
	for i in 1 2 3; do
		start_bg timeout 20 "$PYTHON" -c '
import socket, sys
s = socket.socket(type=socket.SOCK_DGRAM)
for m in range(200):
    s.sendto(b"host%s message %03d %s" % (sys.argv[2].encode(), m,
             b"x" * 500), ("127.0.0.1", int(sys.argv[1])))
' "$PORT" "$i"
	done
	udp_py send "$PORT" "$d/x" 0 'ends in a newline\n'
	wait_for_size "$(OUT)" 601 -l
	[ "$(grep -cE '^host[123] message [0-9]{3} x{500}$' "$(OUT)")" -eq 600 ]
	[ "$(grep -c '^ends in a newline$' "$(OUT)")" -eq 1 ]
	[ "$(wc -l <"$(OUT)")" -eq 601 ]
	kill -TERM "$LISTEN_PID"
	wait_exit "$LISTEN_PID" 5
	[ "$EXIT_STATUS" -eq 0 ]
}

@test "-u -lk: stdin goes to every sender heard, the most recent -m" {
	local d=$BATS_TEST_TMPDIR p
	mkfifo "$d/in"
	exec 5<>"$d/in"
	LISTEN_IN=$d/in listen_bg -u -k -m 2 127.0.0.1 0
	for p in a b c; do
		start_bg timeout 20 "$PYTHON" "$UDP_PY" send "$PORT" \
		    "$d/$p" 2 "hi from $p"
		wait_for_file "$(OUT)" "^hi from $p\$"
	done
	local a=${BG_PIDS[1]}
	printf 'to all' >&5
	wait_for_size "$d/b" 6
	wait_for_size "$d/c" 6
	[ "$(cat "$d/b")" = "to all" ]
	[ "$(cat "$d/c")" = "to all" ]
	wait_exit "$a" 10	# a hears nothing for 2 s, and leaves
	[ ! -s "$d/a" ]
}

@test "--allow: datagrams from outside are dropped, counted, noted once" {
	local d=$BATS_TEST_TMPDIR
	printf 'secret' >"$d/in"
	LISTEN_IN=$d/in listen_bg -u --allow 10.0.0.0/8 127.0.0.1 0
	udp_py send "$PORT" "$d/a" 0.5 one two three
	[ ! -s "$d/a" ]
	[ ! -s "$(OUT)" ]
	[ "$(grep -c 'not in --allow' "$LISTEN_ERR")" -eq 1 ]
	kill -TERM "$LISTEN_PID"
	wait_exit "$LISTEN_PID" 5
	grep -q '3 datagrams dropped by --allow' "$LISTEN_ERR"
}

@test "--allow: datagrams from inside pass" {
	listen_bg -u --allow 127.0.0.0/8 127.0.0.1 0
	udp_py send "$PORT" "$BATS_TEST_TMPDIR/a" 0 inside
	wait_for_size "$(OUT)" 6
	[ "$(cat "$(OUT)")" = inside ]
}

@test "-z -u: a closed port exits 1; an open one 0, 'open or filtered'" {
	run --separate-stderr timeout 10 "$ZTPIPE" -z -u 127.0.0.1 \
	    "$(free_udp_port)"
	[ "$status" -eq 1 ]
	serve_bg "$BATS_TEST_TMPDIR/log"
	run --separate-stderr timeout 10 "$ZTPIPE" -z -u -v 127.0.0.1 "$SPORT"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"127.0.0.1 port $SPORT open or filtered"* ]] || false
}

@test "-u with --chat, -R, --name or a client's -w is a usage error" {
	local a
	for a in "-l --chat" "-R 2 127.0.0.1" "--name x 127.0.0.1" \
	    "-w 2 127.0.0.1"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$ZTPIPE" -u $a </dev/null
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"${a%% *}"*"-u"* || "$stderr" == *"-u"*"${a%% *}"* ]] ||
		    [[ "$stderr" == *"UDP"* ]] || false
	done
}

@test "a UDP listener is dual-stack on port 0 and says where it listens" {
	listen_bg -u -k 0
	grep -q "listening on :: port $PORT" "$LISTEN_ERR"
	udp_py send "$PORT" "$BATS_TEST_TMPDIR/a" 0 over-ipv4
	HOST=::1 udp_py send "$PORT" "$BATS_TEST_TMPDIR/b" 0 over-ipv6
	wait_for_size "$(OUT)" 2 -l
	[ "$(sort "$(OUT)")" = "$(printf 'over-ipv4\nover-ipv6')" ]
}

# bats test_tags=unix
@test "the kernel's drops are counted in the -v summary" {
	[ "$(uname)" = Linux ] || skip "SO_RXQ_OVFL is Linux's"
	local d=$BATS_TEST_TMPDIR n r
	mkfifo "$d/out"
	exec 6<>"$d/out"
	LISTEN_OUT=$d/out listen_bg -u -k 127.0.0.1 0
	# stdout unread: 30 MB is more than our queue and the kernel hold.
	"$PYTHON" -c '
import socket, sys
s = socket.socket(type=socket.SOCK_DGRAM)
for i in range(30000):
    s.sendto(b"x" * 999, ("127.0.0.1", int(sys.argv[1])))
' "$PORT"
	start_bg timeout 20 cat <&6 >"$d/got"
	# The count comes with the next datagram the kernel keeps.
	udp_py send "$PORT" "$d/a" 0 last
	wait_for_file "$d/got" '^last$'
	kill -TERM "$LISTEN_PID"
	wait_exit "$LISTEN_PID" 5
	n=$(sed -n 's/.* \([0-9]*\) datagrams dropped by the kernel$/\1/p' "$LISTEN_ERR")
	r=$(sed -n 's/.*received \([0-9]*\) bytes.*/\1/p' "$LISTEN_ERR")
	[ "${n:-0}" -gt 0 ]
	[ $(((r - 4) / 999 + n)) -le 30000 ]
}

@test "nc -u sends to a ztpipe listener, and ztpipe -u to nc -u -l" {
	local nc=nc.openbsd port
	need "$nc"
	listen_bg -u 127.0.0.1 0
	printf 'from nc' | timeout 10 "$nc" -u -w 1 127.0.0.1 "$PORT"
	wait_for_size "$(OUT)" 7
	[ "$(cat "$(OUT)")" = "from nc" ]
	port=$(free_udp_port)
	start_bg timeout 20 "$nc" -u -l 127.0.0.1 "$port" </dev/null \
	    >"$BATS_TEST_TMPDIR/got"
	sleep 0.3	# nc prints nothing when it listens
	printf 'to nc' | timeout 10 "$ZTPIPE" -u 127.0.0.1 "$port"
	wait_for_size "$BATS_TEST_TMPDIR/got" 5
	[ "$(cat "$BATS_TEST_TMPDIR/got")" = "to nc" ]
}

@test "socat sends to a ztpipe listener, and ztpipe -u gets socat's reply" {
	need socat
	local f=$BATS_TEST_TMPDIR/payload port
	random_file "$f" 30000
	listen_bg -u 127.0.0.1 0
	timeout 10 socat -u STDIN "UDP-SENDTO:127.0.0.1:$PORT" <"$f"
	wait_for_size "$(OUT)" 30000
	[ "$(sha "$(OUT)")" = "$(sha "$f")" ]
	port=$(free_udp_port)
	start_bg timeout 20 socat "UDP-RECVFROM:$port,bind=127.0.0.1" \
	    SYSTEM:'head -c 5 | tr a-z A-Z'
	sleep 0.3
	run timeout 10 "$ZTPIPE" -u -i 3 127.0.0.1 "$port" <<<hello
	[ "$status" -eq 0 ]
	[ "$output" = HELLO ]
}
