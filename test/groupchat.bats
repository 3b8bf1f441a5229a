#!/usr/bin/env bats
# --chat: a group chat relayed by a listener.

load helper

# chat_py SCRIPT: run python with helpers to drive chat clients.
# conn() connects, say(s, text) sends a line, expect(s, text) waits up
# to 10 s for text (a bound for a hang only), silent(s) checks nothing
# arrives for 0.5 s.
chat_py() {
	"$PYTHON" -c '
import socket, sys, time
port = int(sys.argv[1])
bufs = {}
def conn():
    s = socket.create_connection(("127.0.0.1", port))
    bufs[s] = b""
    return s
def say(s, text):
    s.sendall(text.encode() + b"\n")
def expect(s, text):
    want = text.encode() if isinstance(text, str) else text
    end = time.time() + 10
    while want not in bufs[s]:
        s.settimeout(max(0.01, end - time.time()))
        try:
            b = s.recv(65536)
        except socket.timeout:
            sys.exit("never got %r; got %r" % (want[:80], bufs[s][-160:]))
        if not b:
            sys.exit("EOF waiting for %r; got %r" % (want[:80], bufs[s][-160:]))
        bufs[s] += b
    i = bufs[s].index(want) + len(want)
    bufs[s] = bufs[s][i:]
def silent(s, what=b""):
    s.settimeout(0.5)
    try:
        b = s.recv(65536)
    except socket.timeout:
        return
    if what in b or not b:
        sys.exit("unexpected %r" % b)
'"$1" "$PORT" "${@:2}"
}

@test "a line goes to every other client and the server, named by its sender" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/srv.out listen_bg --chat 127.0.0.1 0
	run chat_py '
a = conn(); b = conn(); c = conn()
expect(a, "joined")
say(a, "/name ayşe")
expect(b, "* 127.0.0.1 is now ayşe\n")
say(a, "merhaba dünya, nasılsın?")
expect(b, "[ayşe] merhaba dünya, nasılsın?\n")
expect(c, "[ayşe] merhaba dünya, nasılsın?\n")
silent(a, b"merhaba")
'
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for_file "$BATS_TEST_TMPDIR/srv.out" 'ayşe] merhaba'
	grep -qxF '[ayşe] merhaba dünya, nasılsın?' "$BATS_TEST_TMPDIR/srv.out"
}

@test "a chosen name is cut to 32 bytes" {
	listen_bg --chat 127.0.0.1 0
	run chat_py '
a = conn(); b = conn()
expect(a, "joined")
say(b, "/name " + "n" * 50)
expect(a, "* 127.0.0.1 is now " + "n" * 32 + "\n")
'
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "join and leave notices reach every terminal, the server's too" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/srv.out listen_bg --chat 127.0.0.1 0
	run chat_py '
a = conn()
b = conn()
expect(a, "* 127.0.0.1 joined\n")
say(b, "/name mehmet")
expect(a, "is now mehmet")
b.close()
expect(a, "* mehmet left\n")
'
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for_file "$BATS_TEST_TMPDIR/srv.out" 'mehmet left'
	grep -qxF '* 127.0.0.1 joined' "$BATS_TEST_TMPDIR/srv.out"
}

# bats test_tags=unix
@test "the last client's leave notice reaches the server's stdout at once" {
	local out=$BATS_TEST_TMPDIR/srv.out
	# stdin held open: no stdin line to wake the server up.
	hold_open "$BATS_TEST_TMPDIR/in"
	LISTEN_IN=$BATS_TEST_TMPDIR/in LISTEN_OUT=$out listen_bg --chat 127.0.0.1 0
	run chat_py '
a = conn()
say(a, "/name mehmet")
say(a, "hoşça kalın")
a.close()
'
	[ "$status" -eq 0 ]
	# It was queued in reaping, after the round's move, with no other
	# peer to wake poll(): it waited for the next event, and a stop
	# (nothing queued, nothing to flush) dropped it.
	wait_for_file "$out" '^\* mehmet left$'
	kill -TERM "$(ztpipe_pid "$LISTEN_PID")"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
}

@test "the operator's lines go to all clients as [--name]" {
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 5<>"$BATS_TEST_TMPDIR/in"
	LISTEN_IN=$BATS_TEST_TMPDIR/in listen_bg --chat --name operatör 127.0.0.1 0
	chat_py '
a = conn(); b = conn()
open(sys.argv[2], "w").write("go\n")
expect(a, "[operatör] hoş geldiniz\n")
expect(b, "[operatör] hoş geldiniz\n")
' "$BATS_TEST_TMPDIR/ready" 3>&- 5>&- &
	local py=$!
	BG_PIDS+=("$py")
	wait_for_file "$BATS_TEST_TMPDIR/ready" go
	echo 'hoş geldiniz' >&5
	wait_exit "$py" 10
	[ "$EXIT_STATUS" -eq 0 ]
}

@test "a chat server with stdin at EOF keeps relaying and sends no EOF" {
	listen_bg --chat 127.0.0.1 0
	run chat_py '
a = conn(); b = conn()
expect(a, "joined")
expect(a, "joined")
expect(b, "joined")
silent(a)
silent(b)
say(b, "still here?")
expect(a, "still here?\n")
'
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "control bytes and escapes are shown, not obeyed; UTF-8 passes; bad bytes replaced" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/srv.out listen_bg --chat 127.0.0.1 0
	run chat_py '
a = conn(); b = conn()
expect(a, "joined")
a.sendall(b"\x1b[2Jclear\x07 \xc2\x9b bad\xff\xfe ok \xf0\x9f\x99\x82 \x7f\r\n")
expect(b, "] ^[[2Jclear^G \ufffd\ufffd bad\ufffd\ufffd ok \U0001f642 ^?\n".encode())
'
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for_file "$BATS_TEST_TMPDIR/srv.out" 'clear'
	! grep -q $'\x1b' "$BATS_TEST_TMPDIR/srv.out"
}

@test "bidirectional overrides and invisible characters in a line are shown as \\u202e, not obeyed" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/srv.out listen_bg --chat 127.0.0.1 0
	run chat_py '
a = conn(); b = conn()
expect(a, "joined")
say(a, "pay \u202etxt.exe\u202c \u2066iso\u2069 \u200bzw\u200d\u200e\u200f \u2028ls\u2029 \ufeffbom so\u00adft \U000e0041tag\U000e007f \u061calm")
expect(b, r"] pay \u202etxt.exe\u202c \u2066iso\u2069 \u200bzw\u200d\u200e\u200f \u2028ls\u2029 \ufeffbom so\u00adft \U000e0041tag\U000e007f \u061calm" + "\n")
'
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for_file "$BATS_TEST_TMPDIR/srv.out" 'txt.exe'
	# The listener's own terminal gets the same escapes, never the raw bytes.
	grep -qF '\u202etxt.exe' "$BATS_TEST_TMPDIR/srv.out"
	! grep -q $'\u202e\\|\u200b\\|\u2028\\|\ufeff\\|\u00ad' "$BATS_TEST_TMPDIR/srv.out"
}

@test "a name that ends in an open right-to-left override cannot turn other lines around" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/srv.out listen_bg --chat 127.0.0.1 0
	run chat_py '
a = conn(); b = conn()
expect(a, "joined")
say(a, "/name admin\u200b\u202e")
expect(b, r"* 127.0.0.1 is now admin\u200b\u202e" + "\n")
say(a, "hello")
expect(b, r"[admin\u200b\u202e] hello" + "\n")
'
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for_file "$BATS_TEST_TMPDIR/srv.out" 'hello'
	! grep -q $'\u202e' "$BATS_TEST_TMPDIR/srv.out"
}

@test "the operator's --name and typed lines have invisible characters escaped too" {
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 5<>"$BATS_TEST_TMPDIR/in"
	LISTEN_IN=$BATS_TEST_TMPDIR/in listen_bg --chat --name $'op\u2067' 127.0.0.1 0
	chat_py '
a = conn()
open(sys.argv[2], "w").write("go\n")
expect(a, r"[op\u2067] a\u00adb \u2028 ok" + "\n")
' "$BATS_TEST_TMPDIR/ready" 3>&- 5>&- &
	local py=$!
	BG_PIDS+=("$py")
	wait_for_file "$BATS_TEST_TMPDIR/ready" go
	echo $'a\u00adb \u2028 ok' >&5
	wait_exit "$py" 10
	[ "$EXIT_STATUS" -eq 0 ]
}

@test "letters, accents and emoji still pass untouched next to an escaped character" {
	listen_bg --chat 127.0.0.1 0
	run chat_py '
a = conn(); b = conn()
expect(a, "joined")
say(a, "çağrı e\u0301 \U0001f642 \u00a0nbsp \ufe0f\u200bx")
expect(b, "] çağrı e\u0301 \U0001f642 \u00a0nbsp \ufe0f" + r"\u200bx" + "\n")
'
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "a ztpipe client's --name is its name in the chat" {
	listen_bg --chat 127.0.0.1 0
	run chat_py '
a = conn()
import subprocess
p = subprocess.Popen([sys.argv[2], "--name", "zeynep", "127.0.0.1", str(port)],
                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
expect(a, "is now zeynep\n")
p.stdin.write(b"selam\n"); p.stdin.flush()
expect(a, "[zeynep] selam\n")
p.stdin.close(); p.wait(5)
expect(a, "* zeynep left\n")
' "$ZTPIPE"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "a client that never reads is dropped; the others keep chatting" {
	listen_bg --chat -v 127.0.0.1 0
	run chat_py '
stuck = conn()
stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
a = conn(); b = conn()
expect(a, "joined")
line = "x" * 1000
for i in range(3000):
    say(a, "%d %s" % (i, line))
    if i % 100 == 99:
        expect(b, "%d %s\n" % (i, line))
expect(a, "left\n")
'
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q 'not reading for 1.5 s, dropped' "$LISTEN_ERR"
}

# srv_has PATTERN N: until the server's stdout has N lines matching (10 s).
srv_has() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(grep -c -- "$1" "$BATS_TEST_TMPDIR/srv.out")" -ge "$2" ] && return 0
		sleep 0.05
	done
	echo "srv.out has not $2 lines with '$1'" >&2
	return 1
}

@test "a pasted 10 KB line is relayed whole, and its sender still chats and leaves" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/srv.out listen_bg --chat 127.0.0.1 0
	run chat_py '
a = conn(); b = conn()
expect(a, "joined\n")
say(a, "L" * 10000)
say(a, "after")
expect(b, "[127.0.0.1] " + "L" * 10000 + "\n")
expect(b, "[127.0.0.1] after\n")
a.close()
expect(b, "* 127.0.0.1 left\n")
b.close()
'
	echo "$output"
	[ "$status" -eq 0 ]
	# the server saw it all too, and both leave
	srv_has 'left$' 2
	grep -qx "\[127.0.0.1\] $(printf 'L%.0s' {1..10000})" "$BATS_TEST_TMPDIR/srv.out"
	grep -qx '\[127.0.0.1\] after' "$BATS_TEST_TMPDIR/srv.out"
	# nobody is left in the chat: a stop cuts nothing
	kill -TERM "$(ztpipe_pid "$LISTEN_PID")"
	wait_exit "$LISTEN_PID" 10
	cat "$LISTEN_ERR"
	[ "$EXIT_STATUS" -eq 0 ]
}

@test "three clients that each paste a 100 KB line do not lock out -m 3" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/srv.out listen_bg --chat -m 3 127.0.0.1 0
	run chat_py '
big = [conn() for _ in range(3)]
for s in big:
    say(s, "P" * 100000)
    s.shutdown(socket.SHUT_WR)
for s in big:	# each is seen to leave, and closed: EOF
    s.settimeout(10)
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
d = conn(); e = conn()
expect(d, "joined\n")
say(d, "room for us")
expect(e, "[127.0.0.1] room for us\n")
'
	echo "$output"
	[ "$status" -eq 0 ]
	srv_has 'room for us$' 1
	# all three were seen to leave before the fourth came
	[ "$(sed '/room for us$/q' "$BATS_TEST_TMPDIR/srv.out" | grep -c ' left$')" -eq 3 ]
	[ "$(tr -cd P <"$BATS_TEST_TMPDIR/srv.out" | wc -c)" -eq 300000 ]
	run ! grep -q refused "$LISTEN_ERR"
}



# bats test_tags=unix
@test "a three-party chat in terminals, in Turkish, with names and notices" {
	command -v tmux >/dev/null || skip "tmux not installed"
	TMUX_SOCK=ztpipe-gc-$$
	export LANG=C.UTF-8 LC_ALL=C.UTF-8
	local err=$BATS_TEST_TMPDIR/srv.err
	tm new-session -d -s srv -x 100 -y 20 \
	    "timeout --foreground 30 '$ZTPIPE' -l --chat -v --name sunucu 127.0.0.1 0 2>'$err'"
	wait_for_file "$err" 'listening on'
	PORT=$(sed -n 's/.*port \([0-9]*\)$/\1/p' "$err")
	tm new-session -d -s ali -x 100 -y 20 \
	    "timeout --foreground 30 '$ZTPIPE' --name ali 127.0.0.1 $PORT"
	screen_has srv '* 127.0.0.1 is now ali'
	tm new-session -d -s ayse -x 100 -y 20 \
	    "timeout --foreground 30 '$ZTPIPE' --name ayşe 127.0.0.1 $PORT"
	screen_has ali '* 127.0.0.1 is now ayşe'
	tm send-keys -t ali 'günaydın, çay içer misiniz?' Enter
	screen_has ayse '[ali] günaydın, çay içer misiniz?'
	screen_has srv '[ali] günaydın, çay içer misiniz?'
	tm send-keys -t ayse 'evet, şekersiz lütfen' Enter
	screen_has ali '[ayşe] evet, şekersiz lütfen'
	tm send-keys -t srv 'hemen geliyor' Enter
	screen_has ali '[sunucu] hemen geliyor'
	screen_has ayse '[sunucu] hemen geliyor'
	tm send-keys -t ayse C-d
	screen_has ali '* ayşe left'
	screen_has srv '* ayşe left'
	tm_quit
}

# Ctrl-S pauses a Unix terminal; under wine the server's writes did not wait.
# bats test_tags=unix
@test "a chat server whose terminal is paused (Ctrl-S) still relays, and lets a third client in" {
	command -v tmux >/dev/null || skip "tmux not installed"
	TMUX_SOCK=ztpipe-gc-$$-$BATS_TEST_NUMBER
	export LANG=C.UTF-8 LC_ALL=C.UTF-8
	local err=$BATS_TEST_TMPDIR/srv.err
	tm new-session -d -s srv -x 100 -y 20 \
	    "timeout --foreground 30 '$ZTPIPE' -l --chat -v 127.0.0.1 0 2>'$err'"
	wait_for_file "$err" 'listening on'
	PORT=$(sed -n 's/.*port \([0-9]*\)$/\1/p' "$err")
	tm send-keys -t srv C-s		# output paused: a write to it waits
	run chat_py '
a = conn(); b = conn()
expect(a, "joined")
line = "x" * 1000
# 3 MB of chat: far more than the paused terminal holds
for i in range(3000):
    say(a, "%d %s" % (i, line))
    if i % 100 == 99:
        expect(b, "%d %s\n" % (i, line))
say(b, "still there?")
expect(a, "still there?\n")
c = conn()
expect(a, "joined\n")
say(c, "hello from c")
expect(b, "hello from c\n")
'
	tm send-keys -t srv C-q
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q 'stdout is not keeping up: chat lines for it dropped' "$err"
	screen_has srv 'joined'
}

teardown() {
	[ -z "${TMUX_SOCK:-}" ] || tm_quit
	stop_bg
}

@test "a 300 KB line typed into the chat server goes out in pieces, no crash" {
	"$PYTHON" -c 'import sys; sys.stdout.write("a" * 300000 + "\n")' >"$BATS_TEST_TMPDIR/long"
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 5<>"$BATS_TEST_TMPDIR/in"
	LISTEN_IN=$BATS_TEST_TMPDIR/in listen_bg --chat --name op 127.0.0.1 0
	chat_py '
a = conn()
expect(a, "joined")
open(sys.argv[2], "w").write("go\n")
# 64 KiB pieces, each a line of its own, named
got, end = b"", time.time() + 10
while got.count(b"a") < 300000 and time.time() < end:
    a.settimeout(1)
    got += a.recv(1 << 20)
lines = got.split(b"\n")
assert got.count(b"a") == 300000, "got %d" % got.count(b"a")
assert all(l.startswith(b"[op] ") for l in lines[:-1]), "unprefixed piece"
' "$BATS_TEST_TMPDIR/ready" 3>&- 5>&- &
	local py=$!
	BG_PIDS+=("$py")
	wait_for_file "$BATS_TEST_TMPDIR/ready" go
	cat "$BATS_TEST_TMPDIR/long" >&5
	wait_exit "$py" 10
	[ "$EXIT_STATUS" -eq 0 ]
	kill -0 "$LISTEN_PID"
}

# bats test_tags=unix
@test "a chat server whose own stdout nobody reads still relays, and still greets" {
	mkfifo "$BATS_TEST_TMPDIR/out"
	exec 5<>"$BATS_TEST_TMPDIR/out"		# held open, never read
	LISTEN_OUT=$BATS_TEST_TMPDIR/out listen_bg --chat -v 127.0.0.1 0
	run chat_py '
a = conn(); b = conn()
expect(a, "joined")
line = "x" * 1000
# 3 MB of chat: far more than the stdout pipe of the server holds
for i in range(3000):
    say(a, "%d %s" % (i, line))
    if i % 100 == 99:
        expect(b, "%d %s\n" % (i, line))
say(b, "still there?")
expect(a, "still there?\n")
c = conn()
expect(a, "joined\n")
expect(b, "joined\n")
say(c, "hello from c")
expect(a, "hello from c\n")
'
	echo "$output"
	[ "$status" -eq 0 ]
	kill -0 "$LISTEN_PID"
	# what stdout could not take is said once, then counted at the end
	grep -q 'stdout is not keeping up: chat lines for it dropped' "$LISTEN_ERR"
	kill -TERM "$(ztpipe_pid "$LISTEN_PID")"
	wait_exit "$LISTEN_PID" 10
	grep -Eq '^ztpipe: [1-9][0-9]* chat lines dropped: stdout did not keep up$' \
	    "$LISTEN_ERR"
}

@test "clients that leave together, with notices unread, leave the chat running" {
	listen_bg --chat 127.0.0.1 0
	run chat_py '
a = conn()
for round in range(5):
    gone = [conn() for _ in range(4)]
    for g in gone:
        expect(a, "joined\n")
    time.sleep(0.2)	# their "joined" notices wait unread: each close is a reset
    for g in gone:
        g.close()
    for g in gone:
        expect(a, "left\n")
b = conn()
expect(a, "joined\n")
say(b, "still here")
expect(a, "] still here\n")
'
	echo "$output"
	[ "$status" -eq 0 ]
	kill -0 "$LISTEN_PID"
}

@test "long lines relay whole while the listener's stdout is stalled" {
	# stdout is a FIFO held open and never read.  A chat line waits
	# until every peer has room; the room a peer's writes made used to
	# wake nothing, and with stdout stalled nothing else woke poll().
	mkfifo "$BATS_TEST_TMPDIR/out"
	exec 6<>"$BATS_TEST_TMPDIR/out"
	LISTEN_OUT=$BATS_TEST_TMPDIR/out listen_bg --chat 127.0.0.1 0
	run chat_py '
a = conn()
b = conn()
expect(a, b"joined\n")
line = "y" * 300000
for i in range(3):
    say(a, line)
for i in range(3):
    expect(b, b"] " + line.encode() [:65536])
    expect(b, b"y" * (300000 - 65536 * 4) + b"\n")
a.close()
expect(b, b" left\n")
'
	exec 6>&-
	echo "$output"
	[ "$status" -eq 0 ]
}
