#!/usr/bin/env bats
# --to: a listener whose clients each get their own connection to a
# target (TCP), or their own socket to it (UDP), bytes copied both ways.

load helper

# target_bg MODE [ARG]: a Python target on 127.0.0.1 (udp: UDP), port
# in TPORT.  Modes: echo (each connection echoed, FIN answered with
# FIN), slowecho (echo at about 1 MB/s a connection), count (read to
# EOF, then answer "<bytes> <sha256>" and close), slowcount (count,
# reading at about 30 MB/s), trickle (count, through a 4 KiB receive
# buffer read 4 KiB at a time 50 times a second), greet (say hello and
# FIN at once, then read to EOF and write "<bytes> <sha256>" to ARG),
# rst (send "partial", then reset), watch (read, and write to ARG
# whether the connection ended with "eof" or "reset"), udp (answer
# each datagram with "re:<it> via <source port>").
target_bg() {
	local portfile=$BATS_TEST_TMPDIR/tport.$1
	"$PYTHON" - "$portfile" "$@" <<'PY' 3>&- &
import hashlib, socket, struct, sys, threading, time
portfile, mode = sys.argv[1], sys.argv[2]
arg = sys.argv[3] if len(sys.argv) > 3 else None
if mode == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    open(portfile, "w").write("%d\n" % s.getsockname()[1])
    while True:
        d, a = s.recvfrom(65536)
        s.sendto(b"re:" + d + b" via %d" % a[1], a)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if mode == "trickle":  # inherited by the connections accepted
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("127.0.0.1", 0))
s.listen(256)
open(portfile, "w").write("%d\n" % s.getsockname()[1])

def read_all(c, pause=0, size=65536):
    h, n = hashlib.sha256(), 0
    while True:
        time.sleep(pause)
        b = c.recv(size)
        if not b:
            return n, h.hexdigest()
        n += len(b)
        h.update(b)

def serve(c):
    try:
        if mode in ("echo", "slowecho"):
            while True:
                b = c.recv(65536)
                if not b:
                    c.shutdown(socket.SHUT_WR)
                    break
                c.sendall(b)
                if mode == "slowecho":
                    time.sleep(0.06)
        elif mode in ("count", "slowcount"):
            pause = 0.002 if mode == "slowcount" else 0
            c.sendall(("%d %s\n" % read_all(c, pause)).encode())
        elif mode == "trickle":
            c.sendall(("%d %s\n" % read_all(c, 0.02, 4096)).encode())
        elif mode == "greet":
            c.sendall(b"hello\n")
            c.shutdown(socket.SHUT_WR)
            open(arg, "w").write("%d %s\n" % read_all(c))
        elif mode == "rst":
            c.sendall(b"partial")
            time.sleep(0.2)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
        elif mode == "watch":
            try:
                read_all(c)
                open(arg, "w").write("eof\n")
            except ConnectionResetError:
                open(arg, "w").write("reset\n")
    except OSError:
        pass
    c.close()

while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
	BG_PIDS+=("$!")
	wait_for_file "$portfile" '[0-9]'
	TPORT=$(cat "$portfile")
}

# expect_client_reset: a client that connects to the forward and only
# reads sees a reset, not a clean end.
expect_client_reset() {
	expect_reset "$PORT"
}

@test "--to without -l, or with --chat, -d or --send-only, is a usage error" {
	run --separate-stderr "$ZTPIPE" --to 127.0.0.1:80 127.0.0.1 80
	[ "$status" -eq 2 ]
	[[ $stderr == *"--to needs -l"* ]] || false
	for o in --chat -d --send-only; do
		run --separate-stderr "$ZTPIPE" -l "$o" 0 --to 127.0.0.1:80
		[ "$status" -eq 2 ]
		[[ $stderr == *"$o cannot be used with --to"* ]] || false
	done
}

@test "a --to target without a port, or a bare IPv6 address, is a usage error" {
	for t in 127.0.0.1 127.0.0.1: :80 fd80::1:80 '[fd80::1' '[]:80'; do
		run --separate-stderr "$ZTPIPE" -l 0 --to "$t"
		echo "$t: $status $stderr"
		[ "$status" -eq 2 ]
		[[ $stderr == *"bad --to: '$t'"* ]] || false
	done
	run --separate-stderr "$ZTPIPE" -l 0 --to 127.0.0.1:99999
	[ "$status" -eq 2 ]
	[[ $stderr == *"bad port in --to: 99999"* ]] || false
}

@test "-k with --to is allowed: it is what --to does anyway" {
	target_bg echo
	LISTEN_IN=/dev/null listen_bg -k 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	run timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" <<<"ping"
	[ "$status" -eq 0 ]
	[ "$output" = ping ]
}

@test "a 100 MB file from python's http.server through the forward arrives whole (curl)" {
	command -v curl >/dev/null || skip "curl not installed"
	mkdir "$BATS_TEST_TMPDIR/www"
	random_file "$BATS_TEST_TMPDIR/www/big" 100000000
	TPORT=$(free_port)
	start_bg "$PYTHON" -m http.server --bind 127.0.0.1 \
	    --directory "$BATS_TEST_TMPDIR/www" "$TPORT" >/dev/null 2>&1
	wait_for_port "$TPORT"
	listen_bg 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	run timeout 60 curl -sS -o "$BATS_TEST_TMPDIR/got" \
	    "http://127.0.0.1:$PORT/big"
	[ "$status" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$BATS_TEST_TMPDIR/www/big")" ]
	wait_for_file "$LISTEN_ERR" 'back; closed'
	grep -q "bytes to 127.0.0.1 port $TPORT, 1000[0-9]\{5\} back; closed" \
	    "$LISTEN_ERR"
	# stdin is not read and stdout gets nothing
	[ ! -s "$BATS_TEST_TMPDIR/listen.out" ]
}

# bats test_tags=unix
@test "ssh through the forward to a throwaway sshd: 5 MB there and back" {
	[ -x /usr/sbin/sshd ] && command -v ssh >/dev/null ||
	    skip "openssh-server and ssh not installed"
	local d=$BATS_TEST_TMPDIR/ssh
	mkdir "$d"
	ssh-keygen -q -t ed25519 -N '' -f "$d/host"
	ssh-keygen -q -t ed25519 -N '' -f "$d/client"
	cp "$d/client.pub" "$d/auth"
	TPORT=$(free_port)
	cat >"$d/config" <<EOF_
ListenAddress 127.0.0.1
Port $TPORT
HostKey $d/host
AuthorizedKeysFile $d/auth
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
EOF_
	start_bg /usr/sbin/sshd -D -e -f "$d/config" 2>"$d/sshd.err"
	wait_for_port "$TPORT"
	listen_bg 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	random_file "$d/in" 5000000
	timeout 60 ssh -p "$PORT" -i "$d/client" -o BatchMode=yes \
	    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	    -o LogLevel=ERROR "$(id -un)@127.0.0.1" cat <"$d/in" >"$d/out"
	[ "$(sha "$d/out")" = "$(sha "$d/in")" ]
	wait_for_file "$LISTEN_ERR" 'back; closed'
}

@test "100 clients at once through the forward to an echo server: 1 MB each way each, every byte exact" {
	target_bg echo
	listen_bg -m 100 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	run timeout 120 "$PYTHON" - "$PORT" <<'PY'
import os, selectors, socket, sys
port, n, size = int(sys.argv[1]), 100, 1 << 20
sel = selectors.DefaultSelector()
state = {}
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    data = os.urandom(size)
    state[s] = [memoryview(data), 0, bytearray(), data]
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
left, bad = n, 0
while left:
    for key, ev in sel.select(10):
        s = key.fileobj
        st = state[s]
        if ev & selectors.EVENT_WRITE and st[1] < size:
            st[1] += s.send(st[0][st[1]:st[1] + 65536])
            if st[1] == size:
                s.shutdown(socket.SHUT_WR)
                sel.modify(s, selectors.EVENT_READ)
        if ev & selectors.EVENT_READ:
            b = s.recv(65536)
            if b:
                st[2] += b
            else:
                bad += bytes(st[2]) != st[3]
                sel.unregister(s)
                s.close()
                left -= 1
print("clients %d, wrong %d" % (n, bad))
sys.exit(1 if bad else 0)
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "clients 100, wrong 0" ]
}

@test "a client's FIN reaches the target as FIN after its bytes; the answer still comes back" {
	target_bg count
	listen_bg 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	random_file "$BATS_TEST_TMPDIR/in" 3000000
	run --separate-stderr timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" \
	    <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$output" = "3000000 $(sha "$BATS_TEST_TMPDIR/in")" ]
}

@test "a client's FIN held behind bytes the target is slow to take still reaches it" {
	target_bg slowcount
	listen_bg 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	# 20 MB at 30 MB/s: fails 4 in 4 without the settle hook (e0d8591)
	random_file "$BATS_TEST_TMPDIR/in" 20000000
	for i in 1 2 3; do
		run --separate-stderr timeout 30 "$ZTPIPE" 127.0.0.1 "$PORT" \
		    <"$BATS_TEST_TMPDIR/in"
		[ "$status" -eq 0 ]
		[ "$output" = "20000000 $(sha "$BATS_TEST_TMPDIR/in")" ]
	done
}

@test "a client's FIN held behind bytes reaches the target at once, not at some later deadline" {
	target_bg slowcount
	# -w 60: the only clock the forward has runs out long after timeout's
	listen_bg -w 60 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	random_file "$BATS_TEST_TMPDIR/in" 10000000
	run --separate-stderr timeout 40 "$ZTPIPE" 127.0.0.1 "$PORT" \
	    <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$output" = "10000000 $(sha "$BATS_TEST_TMPDIR/in")" ]
}

@test "an urgent byte from the client passes in its place, and the bytes and FIN after it" {
	target_bg count
	listen_bg 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	run timeout 20 "$PYTHON" - "$PORT" <<'PY'
import hashlib, os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
a, b = os.urandom(300000), os.urandom(300000)
s.sendall(a)
time.sleep(0.2)
s.send(b"!", socket.MSG_OOB)  # splice stops short of it
s.sendall(b)
s.shutdown(socket.SHUT_WR)
got = s.makefile("rb").read()
d = a + b"!" + b
want = b"%d %s\n" % (len(d), hashlib.sha256(d).hexdigest().encode())
print("whole" if got == want else "got %r" % got)
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = whole ]
}

# bats test_tags=unix
@test "short of file descriptors, pairs use buffers for pipes, or are reset: never cut short" {
	target_bg count
	random_file "$BATS_TEST_TMPDIR/in" 5000000
	local want whole=0 started=0 base n i
	want="5000000 $(sha "$BATS_TEST_TMPDIR/in")"
	# The lowest fd a listening forward leaves free here (the suite may
	# pass some on), then limits from no room for the target's socket
	# up to room for both pipes.
	listen_bg 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	for ((base = 0; base < 64; base++)); do
		[ -e "/proc/$(ztpipe_pid "$LISTEN_PID")/fd/$base" ] || break
	done
	kill "$LISTEN_PID"
	for n in $((base + 1)) $((base + 2)) $((base + 3)) $((base + 4)) \
	    $((base + 6)); do
		LISTEN_ERR=$BATS_TEST_TMPDIR/err.$n
		# No timeout(1) in between: under the limit it may not start
		# (make sanitize's wraps it); the pid is killed below.
		start_bg bash -c 'ulimit -n "$1"; shift; exec "$@"' _ "$n" \
		    "$ZTPIPE" -l -v -m 1 127.0.0.1 0 \
		    --to "127.0.0.1:$TPORT" 2>"$LISTEN_ERR" </dev/null
		# A sanitizer's runtime may need more fds than that to start.
		for ((i = 0; i < 200; i++)); do
			grep -q 'listening on' "$LISTEN_ERR" && break
			kill -0 "$BG_PID" 2>/dev/null || break
			sleep 0.05
		done
		if ! grep -q 'listening on' "$LISTEN_ERR"; then
			echo "ulimit -n $n: did not start: $(head -c 200 "$LISTEN_ERR")"
			continue
		fi
		started=$((started + 1))
		PORT=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' "$LISTEN_ERR")
		run --separate-stderr timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" \
		    <"$BATS_TEST_TMPDIR/in"
		echo "base $base, ulimit -n $n: status $status, $output ($stderr)"
		if [ "$status" -eq 0 ]; then
			[ "$output" = "$want" ]
			whole=$((whole + 1))
		else
			[[ $stderr == *"reset by peer"* ]] || false
		fi
		kill "$BG_PID"
		wait_exit "$BG_PID" 10
	done
	# All but base + 1, which has no fd for the target's socket.
	[ "$started" -ge 4 ]
	[ "$whole" -ge $((started - 1)) ]
}

# bats test_tags=unix
@test "pipes never take the fds -m clients' sockets need: 20 at once under ulimit -n 64" {
	target_bg echo
	LISTEN_ERR=$BATS_TEST_TMPDIR/listen.err
	start_bg bash -c 'ulimit -n 64; exec "$@"' _ timeout 60 "$ZTPIPE" -l -v \
	    -m 20 127.0.0.1 0 --to "127.0.0.1:$TPORT" 2>"$LISTEN_ERR" </dev/null
	wait_for_file "$LISTEN_ERR" 'listening on'
	PORT=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' "$LISTEN_ERR")
	run timeout 60 "$PYTHON" - "$PORT" <<'PY'
import os, socket, sys
port = int(sys.argv[1])
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
bad = 0
for s in conns:  # all open at once; then one by one, 100 kB each way
    d = os.urandom(100000)
    s.sendall(d)
    s.shutdown(socket.SHUT_WR)
    try:
        bad += s.makefile("rb").read() != d
    except ConnectionResetError:
        bad += 1
print("bad", bad)
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "bad 0" ]
}

@test "the target's FIN reaches the client while the client goes on sending" {
	target_bg greet "$BATS_TEST_TMPDIR/heard"
	listen_bg 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	random_file "$BATS_TEST_TMPDIR/in" 3000000
	run timeout 20 "$PYTHON" - "$PORT" "$BATS_TEST_TMPDIR/in" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
got = b""
while True:
    b = s.recv(100)
    if not b:
        break
    got += b
assert got == b"hello\n", got
s.sendall(open(sys.argv[2], "rb").read())  # after the target's FIN
s.shutdown(socket.SHUT_WR)
assert s.recv(1) == b""
print("ok")
PY
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for_file "$BATS_TEST_TMPDIR/heard" '[0-9]'
	[ "$(cat "$BATS_TEST_TMPDIR/heard")" = "3000000 $(sha "$BATS_TEST_TMPDIR/in")" ]
}

@test "a reset from the client resets the target's connection" {
	target_bg watch "$BATS_TEST_TMPDIR/ended"
	listen_bg 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	run timeout 10 "$PYTHON" - "$PORT" <<'PY'
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"x" * 100000)
time.sleep(0.3)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
PY
	[ "$status" -eq 0 ]
	wait_for_file "$BATS_TEST_TMPDIR/ended" .
	[ "$(cat "$BATS_TEST_TMPDIR/ended")" = reset ]
	wait_for_file "$LISTEN_ERR" 'the client failed'
	grep -q "the client failed: Connection reset by peer, reset" "$LISTEN_ERR"
}

@test "a reset from the target reaches the client as a reset, after the bytes it sent before" {
	target_bg rst
	listen_bg 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	run timeout 10 "$PYTHON" - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
got = b""
try:
    while True:
        b = s.recv(100)
        if not b:
            sys.exit("clean EOF after %r, not a reset" % got)
        got += b
except ConnectionResetError:
    print("reset after %r" % got.decode())
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "reset after 'partial'" ]
}

@test "a target that refuses resets the client, and -v says so" {
	TPORT=$(free_port)	# nothing listens there
	listen_bg 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	expect_client_reset
	wait_for_file "$LISTEN_ERR" 'could not be reached'
	grep -q "127.0.0.1 port [0-9]*: 0 bytes to 127.0.0.1 port $TPORT, 0 back; the target could not be reached: Connection refused, reset" \
	    "$LISTEN_ERR"
	kill -0 "$LISTEN_PID"	# the forward goes on
}

@test "a target that does not answer within -w resets the client" {
	full_backlog
	TPORT=$PORT
	listen_bg -w 1 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	SECONDS=0
	expect_client_reset
	[ "$SECONDS" -le 8 ]	# -w 1, not the default 10 s: a bound only
	wait_for_file "$LISTEN_ERR" 'could not be reached'
	grep -q "the target could not be reached: $E_TIMEDOUT, reset" "$LISTEN_ERR" ||
	    grep -Eq "the target could not be reached: (Connection|Operation) timed out, reset" "$LISTEN_ERR"
	# -w is the target's here: no client for a while is no error
	kill -0 "$LISTEN_PID"
}

@test "--allow refuses a client outside it with a reset, and the target never hears of it" {
	target_bg watch "$BATS_TEST_TMPDIR/ended"
	listen_bg --allow 10.0.0.0/8 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	expect_client_reset
	wait_for_file "$LISTEN_ERR" 'refused 127.0.0.1'
	grep -q "not in --allow" "$LISTEN_ERR"
	[ ! -e "$BATS_TEST_TMPDIR/ended" ]
	! grep -q "connection from" "$LISTEN_ERR"
}

@test "-m 2: a third client is reset while two pairs are open; one that ends makes room" {
	target_bg echo
	listen_bg -m 2 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	run timeout 20 "$PYTHON" - "$PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
def echo(s, m):
    s.sendall(m)
    assert s.recv(100) == m
a = socket.create_connection(("127.0.0.1", port)); echo(a, b"a")
b = socket.create_connection(("127.0.0.1", port)); echo(b, b"b")
c = socket.create_connection(("127.0.0.1", port))
try:
    r = c.recv(1)
    sys.exit("third client got %r, not a reset" % r)
except ConnectionResetError:
    pass
a.shutdown(socket.SHUT_WR)
assert a.recv(1) == b""
a.close()
for _ in range(50):  # the pair's end is reaped within a round or two
    d = socket.create_connection(("127.0.0.1", port))
    try:
        echo(d, b"d")
        break
    except (ConnectionResetError, AssertionError):
        d.close()
else:
    sys.exit("no room after a pair ended")
print("ok")
PY
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "refused 127.0.0.1 port [0-9]*: 2 connections already" "$LISTEN_ERR"
}

@test "-i 1 resets a pair silent that long; the others go on" {
	target_bg echo
	listen_bg -i 1 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	run timeout 20 "$PYTHON" - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"hi")
assert s.recv(2) == b"hi"
s.settimeout(10)
try:
    r = s.recv(1)
    sys.exit("got %r, not a reset" % r)
except ConnectionResetError:
    print("reset")
PY
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for_file "$LISTEN_ERR" 'idle for 1 s, reset'
	kill -0 "$LISTEN_PID"
}

# bats test_tags=unix
# (Windows has no count of a socket's unacknowledged bytes)
@test "-i 2 does not reset a pair whose target is still taking its bytes, slowly" {
	target_bg trickle
	# -i 2, not 1: the target must not look silent for a whole -i when
	# a busy machine pauses it
	listen_bg -i 2 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	# 4.5 s or more for the target to take it all, none of it read by
	# us after the first moment: the bytes wait in our kernel, not silent
	random_file "$BATS_TEST_TMPDIR/in" 900000
	run --separate-stderr timeout 60 "$ZTPIPE" 127.0.0.1 "$PORT" \
	    <"$BATS_TEST_TMPDIR/in"
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "900000 $(sha "$BATS_TEST_TMPDIR/in")" ]
	! grep -q 'idle for' "$LISTEN_ERR"
}

# bats test_tags=unix
@test "a stop mid-transfer: every client got all its bytes or saw a reset, never a short clean end" {
	target_bg slowecho
	listen_bg 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	timeout 60 "$PYTHON" - "$PORT" "$BATS_TEST_TMPDIR/started" \
	    >"$BATS_TEST_TMPDIR/clients" 2>&1 3>&- <<'PY' &
import os, selectors, socket, sys
port = int(sys.argv[1])
# 4 short transfers that end within the stop's flush, 6 that cannot
sizes = [200000] * 4 + [20000000] * 6
sel = selectors.DefaultSelector()
st = {}
for n in sizes:
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    d = os.urandom(n)
    st[s] = [d, 0, bytearray()]
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
open(sys.argv[2], "w").write("go\n")
out = {"whole": 0, "reset": 0, "short": 0}
while st:
    for key, ev in sel.select(30):
        s = key.fileobj
        d, sent, got = st[s]
        try:
            if ev & selectors.EVENT_WRITE and sent < len(d):
                st[s][1] += s.send(d[sent:sent + 65536])
                if st[s][1] == len(d):
                    s.shutdown(socket.SHUT_WR)
                    sel.modify(s, selectors.EVENT_READ)
            if not ev & selectors.EVENT_READ:
                continue
            b = s.recv(65536)
            if b:
                got += b
                continue
            out["whole" if bytes(got) == d else "short"] += 1
        except (ConnectionResetError, BrokenPipeError):
            out["reset"] += 1
        except BlockingIOError:
            continue
        sel.unregister(s)
        s.close()
        del st[s]
print("whole %(whole)d reset %(reset)d short %(short)d" % out)
PY
	local clients=$!
	BG_PIDS+=("$clients")
	wait_for_file "$BATS_TEST_TMPDIR/started" go
	sleep 0.5	# let the transfers run: the stop must land mid-way
	kill -TERM "$(ztpipe_pid "$LISTEN_PID")"
	wait_exit "$LISTEN_PID" 10
	cat "$LISTEN_ERR"
	[ "$EXIT_STATUS" -eq 1 ]
	wait_exit "$clients" 30
	cat "$BATS_TEST_TMPDIR/clients"
	grep -q "short 0$" "$BATS_TEST_TMPDIR/clients"
	grep -q "reset [1-9]" "$BATS_TEST_TMPDIR/clients"
	grep -q "signal 15: [0-9]* connections had not finished; connections reset" \
	    "$LISTEN_ERR"
}

# bats test_tags=unix
@test "a stop with no pair open ends the forward with status 0" {
	target_bg echo
	listen_bg 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	run timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" <<<"ping"
	[ "$output" = ping ]
	wait_for_file "$LISTEN_ERR" 'back; closed'
	kill -TERM "$(ztpipe_pid "$LISTEN_PID")"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
}

@test "an IPv6 target in brackets is reached" {
	"$PYTHON" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' \
	    2>/dev/null || skip "no ::1 here"
	"$PYTHON" - "$BATS_TEST_TMPDIR/tport6" <<'PY' 3>&- &
import socket, sys
s = socket.socket(socket.AF_INET6)
s.bind(("::1", 0))
s.listen(1)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
c, _ = s.accept()
c.sendall(b"six\n")
c.close()
PY
	BG_PIDS+=("$!")
	wait_for_file "$BATS_TEST_TMPDIR/tport6" '[0-9]'
	listen_bg 127.0.0.1 0 --to "[::1]:$(cat "$BATS_TEST_TMPDIR/tport6")"
	run timeout 10 "$ZTPIPE" -d 127.0.0.1 "$PORT"
	[ "$status" -eq 0 ]
	[ "$output" = six ]
}

@test "a node ID target is dialled at its ZeroTier address, or needs a network" {
	run --separate-stderr timeout 10 env -u ZTPIPE_NETWORK "$ZTPIPE" -l \
	    127.0.0.1 0 --to a45dc9d260:80
	[ "$status" -eq 1 ]
	[[ $stderr == *"a45dc9d260 is a node ID"* ]] || false
	listen_bg --network 8056c2e21c000001 127.0.0.1 0 --to a45dc9d260:80
	grep -q "forwarding to fd80:56c2:e21c:0:199:93a4:5dc9:d260 port 80" \
	    "$LISTEN_ERR"
}

@test "udp: 50 clients each get their own replies only, through their own sessions" {
	target_bg udp
	listen_bg -u 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	run timeout 60 "$PYTHON" - "$PORT" <<'PY'
import selectors, socket, sys, time
port, n, each = int(sys.argv[1]), 50, 10
sel = selectors.DefaultSelector()
cl = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, i)
    cl.append({"s": s, "next": 0, "sent_at": 0, "via": set(), "tries": 0})
foreign = done = 0
def send(c, i):
    c["s"].sendto(b"c%d q%d" % (i, c["next"]), ("127.0.0.1", port))
    c["sent_at"] = time.time()
    c["tries"] += 1
for i, c in enumerate(cl):
    send(c, i)
deadline = time.time() + 40
while done < n and time.time() < deadline:
    for key, _ in sel.select(0.2):
        i, c = key.data, cl[key.data]
        d = c["s"].recv(65536)
        want = b"re:c%d q%d via " % (i, c["next"])
        if not d.startswith(b"re:c%d " % i):
            foreign += 1
            continue
        if not d.startswith(want):
            continue  # an answer to a retry, late
        c["via"].add(d[len(want):])
        c["next"] += 1
        if c["next"] == each:
            done += 1
        else:
            send(c, i)
    for i, c in enumerate(cl):  # UDP may drop: ask again after 1 s
        if c["next"] < each and time.time() - c["sent_at"] > 1:
            send(c, i)
vias = [len(c["via"]) for c in cl]
ports = set(p for c in cl for p in c["via"])
print("done %d foreign %d one-session-each %s distinct %d"
      % (done, foreign, all(v == 1 for v in vias), len(ports)))
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "done 50 foreign 0 one-session-each True distinct 50" ]
}

@test "udp: a session silent for -i ends; the client's next datagram gets a new one" {
	target_bg udp
	listen_bg -u -i 1 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	run timeout 20 "$PYTHON" - "$PORT" "$LISTEN_ERR" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"one", ("127.0.0.1", int(sys.argv[1])))
a = s.recv(100)
for _ in range(200):
    if "idle" in open(sys.argv[2]).read():
        break
    time.sleep(0.05)
else:
    sys.exit("the session never ended")
s.sendto(b"two", ("127.0.0.1", int(sys.argv[1])))
b = s.recv(100)
print(a.split(b" via ")[0].decode(), b.split(b" via ")[0].decode(),
      a.split(b" via ")[1] != b.split(b" via ")[1])
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "re:one re:two True" ]
	[ "$(grep -c 'a new session' "$LISTEN_ERR")" -eq 2 ]
	grep -q "3 bytes to 127.0.0.1 port $TPORT, [0-9]* back; idle" "$LISTEN_ERR"
}

@test "udp: -m 1 drops a second client's datagrams while the first session lasts" {
	target_bg udp
	listen_bg -u -m 1 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	run timeout 20 "$PYTHON" - "$PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.settimeout(5)
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.settimeout(1)
a.sendto(b"a", ("127.0.0.1", port))
assert a.recv(100).startswith(b"re:a ")
b.sendto(b"b", ("127.0.0.1", port))
try:
    sys.exit("b got %r" % b.recv(100))
except socket.timeout:
    print("dropped")
PY
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "datagrams from 127.0.0.1 port [0-9]* dropped: -m sessions already" \
	    "$LISTEN_ERR"
}

# bats test_tags=unix
# (wine wakes no select for a UDP port unreachable: see docs/windows.md)
@test "udp: a target port that refuses ends the session at once, not at -i; the next datagram tries again" {
	TPORT=$(free_port)	# nothing listens there
	listen_bg -u -i 60 127.0.0.1 0 --to "127.0.0.1:$TPORT"
	run timeout 20 "$PYTHON" - "$PORT" "$LISTEN_ERR" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(2):
    s.sendto(b"x", ("127.0.0.1", int(sys.argv[1])))
    for _ in range(200):
        if open(sys.argv[2]).read().count("the target failed") > n:
            break
        time.sleep(0.05)
    else:
        sys.exit("session %d did not end on the refusal" % n)
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c 'a new session' "$LISTEN_ERR")" -eq 2 ]
	grep -q "1 bytes to 127.0.0.1 port $TPORT, 0 back; the target failed: Connection refused" "$LISTEN_ERR"
}
