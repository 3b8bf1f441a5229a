#!/usr/bin/env bats
# Shell completion: options, their values, ports, and ZeroTier node IDs
# from a fake zerotier-cli on PATH.

load helper

COMPLETION=$BATS_TEST_DIRNAME/../completions/ztpipe.bash

setup() {
	FAKEBIN=$BATS_TEST_TMPDIR/bin
	mkdir -p "$FAKEBIN"
	# What zerotier-cli -j prints: two members and a root server, whose
	# paths carry IP/port addresses; keys sorted, as ZeroTier writes them.
	cat >"$FAKEBIN/zerotier-cli" <<'SH'
#!/bin/sh
case "$*" in
"-j listpeers") cat <<'JSON' ;;
[
 {
  "address": "a45dc9d260",
  "isBonded": false,
  "latency": 12,
  "paths": [
   {
    "active": true,
    "address": "192.0.2.7/9993",
    "preferred": true
   }
  ],
  "role": "LEAF",
  "version": "1.14.0"
 },
 {
  "address": "62f865ae71",
  "latency": 80,
  "paths": [ { "address": "203.0.113.1/9993" } ],
  "role": "PLANET",
  "version": "-1.-1.-1"
 },
 {"address": "1234512345", "paths": [], "role": "LEAF", "version": "1.12.2"}
]
JSON
"-j listnetworks") cat <<'JSON' ;;
[
 {
  "id": "8056c2e21c000001",
  "name": "home",
  "nwid": "8056c2e21c000001",
  "status": "OK"
 }
]
JSON
*) echo "zerotier-cli: unexpected: $*" >&2; exit 3 ;;
esac
SH
	chmod +x "$FAKEBIN/zerotier-cli"
}

# completes LINE: what bash would offer at the end of LINE, one per line,
# sorted.  COMP_WORDS splits as readline does with the default
# COMP_WORDBREAKS: "--progress=al" is "--progress" "=" "al", "zt:12" is
# "zt" ":" "12" (a run of colons, as in "::1", is one word there: not here).
completes() {
	run --separate-stderr timeout 10 env PATH="$PATH" bash --norc -c '
	    source "$1"
	    spec=$(complete -p ztpipe) || exit 1
	    fn=${spec#*-F }; fn=${fn%% *}
	    COMP_LINE=$2 COMP_POINT=${#2}
	    w=${2//=/ = }
	    read -ra COMP_WORDS <<<"${w//:/ : }"
	    [[ $2 == *" " ]] && COMP_WORDS+=("")
	    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	    "$fn" ztpipe "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
	    printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$COMPLETION" "$1"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "sourcing the completion registers a function for ztpipe" {
	run bash --norc -c 'source "$1" && complete -p ztpipe' _ "$COMPLETION"
	[ "$status" -eq 0 ]
	[[ $output == "complete -F _ztpipe ztpipe" ]] || false
}

@test "long options complete from their first letters" {
	completes "ztpipe --ke"
	[ "$output" = "--keep-open" ]
	completes "ztpipe --pro"
	[ "$output" = "--probe
--progress
--progress=always" ]
}

@test "a lone dash offers the short options and the long ones" {
	completes "ztpipe -"
	grep -qx -- -l <<<"$output"
	grep -qx -- --listen <<<"$output"
	grep -qx -- --wait <<<"$output"
	grep -qx -- --udp <<<"$output"
	[ "$(wc -l <<<"$output")" -eq 41 ]
}

@test "--progress= completes to always" {
	completes "ztpipe --progress="
	[ "$output" = always ]
	completes "ztpipe --progress=al"
	[ "$output" = always ]
}

@test "--allow offers zt, and --network the joined networks" {
	PATH=$FAKEBIN:$PATH completes "ztpipe -l --allow "
	[ "$output" = zt ]
	PATH=$FAKEBIN:$PATH completes "ztpipe --network "
	[ "$output" = 8056c2e21c000001 ]
	PATH=$FAKEBIN:$PATH completes "ztpipe --network=80"
	[ "$output" = 8056c2e21c000001 ]
}

@test "the host offers the member node IDs, not root servers or path addresses" {
	PATH=$FAKEBIN:$PATH completes "ztpipe "
	grep -qx zt:1234512345 <<<"$output"
	[[ $output == *$'a45dc9d260'* ]] || false
	[[ $output != *62f865ae71* ]] || false
	[[ $output != *192.0.2.7* ]] || false
	PATH=$FAKEBIN:$PATH completes "ztpipe -v -w 3 a4"
	[ "$output" = a45dc9d260 ]
}

@test "a node ID of digits only is offered as zt:ID, found by its digits or after zt:" {
	PATH=$FAKEBIN:$PATH completes "ztpipe 12"
	[ "$output" = zt:1234512345 ]
	PATH=$FAKEBIN:$PATH completes "ztpipe -v zt"
	[ "$output" = zt:1234512345 ]
	# bash splits the word at ":" and replaces only what follows it
	PATH=$FAKEBIN:$PATH completes "ztpipe zt:12"
	[ "$output" = 1234512345 ]
	PATH=$FAKEBIN:$PATH completes "ztpipe zt:"
	[ "$output" = "1234512345
a45dc9d260" ]
	PATH=$FAKEBIN:$PATH completes "ztpipe zt:1234512345 "
	[ "$output" = 12345 ]
}

@test "without a working zerotier-cli the host still completes, quietly" {
	printf '#!/bin/sh\necho "missing authtoken" >&2\nexit 2\n' \
	    >"$FAKEBIN/zerotier-cli"
	PATH=$FAKEBIN:$PATH completes "ztpipe a4"
	[ -z "$output" ]
	completes "ztpipe --pro"
	[ "$(wc -l <<<"$output")" -eq 3 ]
}

@test "the port comes after the host, or first with -l" {
	PATH=$FAKEBIN:$PATH completes "ztpipe a45dc9d260 "
	[ "$output" = 12345 ]
	completes "ztpipe -lk "
	[ "$output" = 12345 ]
	completes "ztpipe -l 10.147.17.5 "
	[ "$output" = 12345 ]
	completes "ztpipe a45dc9d260 12345 "
	[ -z "$output" ]
}

@test "an option's value is not taken for the host" {
	PATH=$FAKEBIN:$PATH completes "ztpipe -w 5 "
	[[ $output == *a45dc9d260* ]] || false
	completes "ztpipe -w "
	[ -z "$output" ]
	completes "ztpipe --name "
	[ -z "$output" ]
}

@test "the zsh completion parses" {
	command -v zsh >/dev/null || skip "zsh not installed"
	run zsh -n "$BATS_TEST_DIRNAME/../completions/_ztpipe"
	[ "$status" -eq 0 ]
}
