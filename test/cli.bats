#!/usr/bin/env bats
# The command line: help, version, usage errors, the build itself.

load helper

teardown() {
	[ -z "${TMUX_SOCK:-}" ] || tm_quit
	stop_bg
}

# usage_fails MESSAGE ARGS...: ztpipe ARGS is a usage error (status 2,
# nothing on stdout) whose first line is exactly "ztpipe: MESSAGE".
usage_fails() {
	local want=$1
	shift
	run --separate-stderr timeout 5 "$ZTPIPE" "$@" </dev/null
	if [ "$status" -ne 2 ] || [ -n "$output" ] ||
	    [ "${stderr_lines[0]}" != "ztpipe: $want" ]; then
		echo "ztpipe $*: status $status, stderr '$stderr'; want 'ztpipe: $want'" >&2
		return 1
	fi
	[ "${stderr_lines[1]}" = "Try 'ztpipe --help'." ]
}

@test "--help prints usage to stdout and exits 0" {
	run --separate-stderr "$ZTPIPE" --help
	[ "$status" -eq 0 ]
	[[ "$output" == usage:* ]] || false
	[ -z "$stderr" ]
}

@test "-h and --help list every option, short and long" {
	run "$ZTPIPE" -h
	[ "$status" -eq 0 ]
	for o in -4,\ --ipv4 -6,\ --ipv6 -d,\ --no-stdin -h,\ --help \
	    -k,\ --keep-open -l,\ --listen -m,\ --max-conns -s,\ --source \
	    -v,\ --verbose -V,\ --version -w,\ --wait; do
		[[ "$output" == *"$o"* ]] || { echo "missing $o"; false; }
	done
}

@test "--version and -V print the version" {
	run "$ZTPIPE" --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^ztpipe\ [0-9]+\.[0-9]+ ]] || false
	run "$ZTPIPE" -V
	[[ "$output" =~ ^ztpipe\ [0-9] ]] || false
}

@test "an unknown option is a usage error (status 2)" {
	run --separate-stderr "$ZTPIPE" --bogus 127.0.0.1
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == "ztpipe: unknown option: --bogus"* ]] || false
	[[ "$stderr" == *"ztpipe --help"* ]] || false
	run --separate-stderr "$ZTPIPE" -x 127.0.0.1
	[ "$status" -eq 2 ]
	[[ "$stderr" == "ztpipe: unknown option: -x"* ]] || false
}

@test "an option without its value is a usage error naming it" {
	run --separate-stderr "$ZTPIPE" 127.0.0.1 -w
	[ "$status" -eq 2 ]
	[[ "$stderr" == "ztpipe: -w needs a value"* ]] || false
}

@test "a long option given a value it does not take says so, quoting it as typed" {
	usage_fails "--chat takes no value: --chat=1" --chat=1 -l
	usage_fails "--chat takes no value: --ch=yes" --ch=yes -l
	usage_fails "--help takes no value: --help=x" --help=x
	usage_fails "--listen takes no value: --listen=" --listen= 9000
	usage_fails "--no-stdin takes no value: --no=1" 127.0.0.1 --no=1
}

@test "an ambiguous long option lists what it could be" {
	usage_fails "ambiguous option: --n could be --no-stdin, --name, --network" --n 127.0.0.1
	usage_fails "ambiguous option: --n=3 could be --no-stdin, --name, --network" 127.0.0.1 --n=3
	usage_fails "ambiguous option: --ver could be --verbose, --version" --ver
	# a unique prefix, or a whole name that begins another, is no error
	run --separate-stderr timeout 5 "$ZTPIPE" --vers
	[ "$status" -eq 0 ]
	[[ "$output" == ztpipe\ * ]] || false
}

@test "an unknown option is quoted as typed, even inside a word of letters" {
	usage_fails "unknown option: --bogus=1" --bogus=1 127.0.0.1
	usage_fails "unknown option: --=x" --=x 127.0.0.1
	usage_fails "unknown option: -x (in -vx)" -vx 127.0.0.1
	usage_fails "unknown option: -x (in -lxk)" 127.0.0.1 -lxk
	usage_fails "unknown option: -ş" -ş 127.0.0.1
}

@test "-P with a value attached says -P takes none and which option does" {
	usage_fails "-P takes no value (--progress=VALUE does): -Palways" -Palways 127.0.0.1
	usage_fails "-P takes no value (--progress=VALUE does): -P=always" -P=always 127.0.0.1
	usage_fails "-P takes no value (--progress=VALUE does): -vPalways" 127.0.0.1 -vPalways
	usage_fails "-l takes no value: -l=9000" -l=9000
}

@test "a long option without its value names it as typed" {
	usage_fails "--wait needs a value: --wa" 127.0.0.1 --wa
	usage_fails "--wait needs a value" 127.0.0.1 --wait
	usage_fails "-w needs a value" 127.0.0.1 -vw
}

@test "--progress takes exactly the values --help shows" {
	run "$ZTPIPE" --help
	[[ "$output" == *"-P, --progress "* ]] || false
	[[ "$output" == *"--progress=always "* ]] || false
	[[ "$output" != *auto* ]] || false
	usage_fails "bad value for --progress: 'auto' (--progress=always, or -P alone)" --progress=auto 127.0.0.1
	usage_fails "bad value for --progress: '' (--progress=always, or -P alone)" --progress= 127.0.0.1
	usage_fails "bad value for --progress: 'Always' (--progress=always, or -P alone)" --prog=Always 127.0.0.1
}

@test "--resolve, --addrs and -z refuse the options they would ignore, without crashing" {
	usage_fails "-l cannot be used with --resolve" -l --resolve
	usage_fails "--listen cannot be used with --resolve" --resolve --listen 127.0.0.1
	usage_fails "-k cannot be used with --resolve" --resolve -k 127.0.0.1
	usage_fails "-i cannot be used with --resolve" --resolve -i 5 127.0.0.1
	usage_fails "-R cannot be used with --resolve" -R 2 --resolve 127.0.0.1
	usage_fails "-l cannot be used with --addrs" --addrs -l
	usage_fails "--resolve cannot be used with --addrs" --addrs --resolve 127.0.0.1
	usage_fails "-4 cannot be used with --addrs" -4 --addrs
	usage_fails "-l cannot be used with -z" -lz 9000
	usage_fails "--chat cannot be used with -z" -z --chat 127.0.0.1
	usage_fails "-R cannot be used with -z" -z -R 3 127.0.0.1
	usage_fails "-d cannot be used with --probe" --probe -d 127.0.0.1
}

@test "--resolve and -z still take the options that apply to them" {
	run --separate-stderr timeout 5 "$ZTPIPE" --resolve -4 -v 127.0.0.1
	[ "$status" -eq 0 ]
	[ "$output" = 127.0.0.1 ]
	local port
	port=$(free_port)
	run --separate-stderr timeout 5 "$ZTPIPE" -z -4 -v -w 1 -s 127.0.0.1 127.0.0.1 "$port"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"Connection refused"* ]] || false
}

@test "^D at the peer address: prompt prints its error on a line of its own" {
	command -v tmux >/dev/null || skip "tmux not installed"
	TMUX_SOCK=ztpipe-cli-$$-$BATS_TEST_NUMBER
	export LANG=C.UTF-8 LC_ALL=C.UTF-8
	local port
	tm new-session -d -s empty -x 100 -y 20 "bash -c '
timeout --foreground 10 \"$ZTPIPE\"; echo status=\$?; sleep 30'"
	screen_has empty 'peer address:'
	tm send-keys -t empty C-d
	screen_has empty 'status=2'
	run tm capture-pane -p -t empty
	echo "$output"
	grep -qx 'peer address:' <<<"$output"
	grep -qx 'ztpipe: no host to connect to' <<<"$output"
	# An address ended by ^D instead of Enter: the dial's error too.
	port=$(free_port)
	tm new-session -d -s typed -x 100 -y 20 "bash -c '
timeout --foreground 10 \"$ZTPIPE\"; echo status=\$?; sleep 30'"
	screen_has typed 'peer address:'
	tm send-keys -t typed "127.0.0.1 $port" C-d C-d
	screen_has typed 'status=1'
	run tm capture-pane -p -t typed
	echo "$output"
	grep -qx "peer address: 127.0.0.1 $port" <<<"$output"
	grep -qx "ztpipe: connect to 127.0.0.1 port $port: Connection refused" <<<"$output"
}

@test "no host to dial is a usage error" {
	run --separate-stderr timeout 5 "$ZTPIPE" </dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no host"* ]] || false
}

@test "port abc is a usage error naming it" {
	run --separate-stderr "$ZTPIPE" 127.0.0.1 abc
	[ "$status" -eq 2 ]
	[[ "$stderr" == "ztpipe: bad port: abc"* ]] || false
}

@test "port 0 is a usage error when dialling" {
	run --separate-stderr "$ZTPIPE" 127.0.0.1 0
	[ "$status" -eq 2 ]
	[[ "$stderr" == "ztpipe: bad port: 0"* ]] || false
}

@test "port 70000 is a usage error, also with -l" {
	run --separate-stderr "$ZTPIPE" 127.0.0.1 70000
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"bad port: 70000"* ]] || false
	run --separate-stderr "$ZTPIPE" -l 70000
	[ "$status" -eq 2 ]
}

@test "a bad -w value is a usage error" {
	run --separate-stderr "$ZTPIPE" -w soon 127.0.0.1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"bad wait: soon"* ]] || false
}

@test "-k without -l is a usage error" {
	run --separate-stderr "$ZTPIPE" -k 127.0.0.1
	[ "$status" -eq 2 ]
}

@test "too many arguments is a usage error" {
	run --separate-stderr "$ZTPIPE" 127.0.0.1 1 2
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"too many arguments"* ]] || false
}

@test "ztpipe.c builds alone, warning-free, with cc, gcc and clang" {
	for cc in cc gcc clang; do
		command -v "$cc" >/dev/null || continue
		run "$cc" -std=c99 -Wall -Wextra -pedantic -o "$BATS_TEST_TMPDIR/z-$cc" \
		    "$BATS_TEST_DIRNAME/../ztpipe.c"
		[ "$status" -eq 0 ]
		[ -z "$output" ] || { echo "$cc: $output"; false; }
		"$BATS_TEST_TMPDIR/z-$cc" --version | grep -q '^ztpipe '
	done
}

@test "the manual page passes mandoc -Tlint -W warning" {
	command -v mandoc >/dev/null || skip "mandoc not installed"
	run mandoc -Tlint -W warning "$BATS_TEST_DIRNAME/../ztpipe.1"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "every long option is in the manual page and the README" {
	local top=$BATS_TEST_DIRNAME/.. o
	for o in $("$ZTPIPE" --help | grep -o -- '--[a-z0-9-]*' | sort -u); do
		grep -q -- "${o#--}" "$top/ztpipe.1" || { echo "$o not in ztpipe.1"; false; }
		grep -q -- "$o" "$top/README.md" || { echo "$o not in README"; false; }
	done
}

@test "an empty host is a usage error, not a resolver riddle" {
	run --separate-stderr "$ZTPIPE" '' 80
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "ztpipe: empty host" ]
	run --separate-stderr "$ZTPIPE" -l '' 80
	[ "$status" -eq 2 ]
}

@test "--send-only does not go with -k, --chat or -d" {
	usage_fails "--send-only cannot be used with -k" -l -k --send-only
	usage_fails "--send-only cannot be used with --chat" -l --chat --send-only
	usage_fails "--send-only cannot be used with -d" -d --send-only 127.0.0.1
}
