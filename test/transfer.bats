#!/usr/bin/env bats
# Bytes arrive exactly, in both directions, at every awkward size.

load helper

# client_to_server BYTES: the dialler sends a random file to the listener.
client_to_server() {
	local f=$BATS_TEST_TMPDIR/payload out=$BATS_TEST_TMPDIR/listen.out
	random_file "$f" "$1"
	listen_bg 127.0.0.1 0
	run timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" <"$f"
	[ "$status" -eq 0 ]
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$out")" = "$(sha "$f")" ]
}

# server_to_client BYTES: the listener sends, the dialler receives.
server_to_client() {
	local f=$BATS_TEST_TMPDIR/payload out=$BATS_TEST_TMPDIR/client.out
	random_file "$f" "$1"
	LISTEN_IN=$f listen_bg 127.0.0.1 0
	timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/null >"$out"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$out")" = "$(sha "$f")" ]
}

@test "0 bytes client to server" { client_to_server 0; }
@test "1 byte client to server" { client_to_server 1; }
@test "65535 bytes client to server" { client_to_server 65535; }
@test "65536 bytes client to server" { client_to_server 65536; }
@test "65537 bytes client to server" { client_to_server 65537; }
@test "20 MB of random data client to server" { client_to_server 20000000; }
@test "0 bytes server to client" { server_to_client 0; }
@test "1 byte server to client" { server_to_client 1; }
@test "65535 bytes server to client" { server_to_client 65535; }
@test "65536 bytes server to client" { server_to_client 65536; }
@test "65537 bytes server to client" { server_to_client 65537; }
@test "20 MB of random data server to client" { server_to_client 20000000; }

@test "20 MB each way at the same time, no deadlock, both intact" {
	local a=$BATS_TEST_TMPDIR/a b=$BATS_TEST_TMPDIR/b
	random_file "$a" 20000000
	random_file "$b" 20000000
	LISTEN_IN=$a listen_bg 127.0.0.1 0
	timeout 30 "$ZTPIPE" 127.0.0.1 "$PORT" <"$b" >"$BATS_TEST_TMPDIR/got-a"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/got-a")" = "$(sha "$a")" ]
	[ "$(sha "$BATS_TEST_TMPDIR/listen.out")" = "$(sha "$b")" ]
}

@test "stdin from a pipe arrives whole" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 3000000
	listen_bg 127.0.0.1 0
	cat "$f" | timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT"
	wait_exit "$LISTEN_PID" 10
	[ "$(sha "$BATS_TEST_TMPDIR/listen.out")" = "$(sha "$f")" ]
}

@test "a slow consumer on stdout loses nothing" {
	local f=$BATS_TEST_TMPDIR/payload out=$BATS_TEST_TMPDIR/slow.out
	random_file "$f" 5000000
	LISTEN_IN=$f listen_bg 127.0.0.1 0
	timeout 30 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/null | (sleep 1; cat >"$out")
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$out")" = "$(sha "$f")" ]
}

@test "UTF-8 text passes byte for byte" {
	local f=$BATS_TEST_TMPDIR/text
	printf 'merhaba dünya, nasılsın? çğıöşü ÇĞİÖŞÜ 🙂\n' >"$f"
	listen_bg 127.0.0.1 0
	timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" <"$f"
	wait_exit "$LISTEN_PID" 10
	cmp "$f" "$BATS_TEST_TMPDIR/listen.out"
}

@test "memory stays bounded: 1 GiB through a sender in under 8 MiB" {
	[[ $ZTPIPE != *-san ]] || skip "RSS is not meaningful under ASan"
	# make check-release points ZTPIPE at a script that runs qemu-user,
	# make test-windows at one that runs wine.
	if [ "$(head -c 2 "$ZTPIPE")" = '#!' ] && grep -q 'qemu\|wine' "$ZTPIPE"; then
		skip "ZTPIPE runs under an emulator: RSS would measure it, not ztpipe"
	fi
	LISTEN_OUT=/dev/null listen_bg 127.0.0.1 0
	head -c 1073741824 /dev/zero |
	    peak_rss "$BATS_TEST_TMPDIR/rss" timeout 60 "$ZTPIPE" 127.0.0.1 "$PORT"
	wait_exit "$LISTEN_PID" 30
	[ "$EXIT_STATUS" -eq 0 ]
	echo "sender peak RSS $(cat "$BATS_TEST_TMPDIR/rss") KiB"
	[ "$(cat "$BATS_TEST_TMPDIR/rss")" -lt 8192 ]
}
