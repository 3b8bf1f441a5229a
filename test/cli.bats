#!/usr/bin/env bats
# The command line: help, version, usage errors, the build itself.

load helper

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
