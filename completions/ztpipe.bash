# bash completion for ztpipe(1): options, their values, a port, and for the
# host the ZeroTier node IDs this host's zerotier-cli knows as peers.
# Plain bash, kept to what 3.2 (macOS) has; bash-completion is not needed.
# Installed as $(PREFIX)/share/bash-completion/completions/ztpipe.

# COMPREPLY=($(compgen ...)) is the idiom: bash 3.2 has no mapfile.
# tr gets one newline per character: a shorter set is not POSIX.
# shellcheck disable=SC2207,SC2020

# The LEAF peers (members, not root servers) in "zerotier-cli -j
# listpeers".  ZeroTier writes JSON keys sorted, so a peer's "address"
# comes before its "role"; its paths' addresses are IP/port, not node IDs.
# An ID of digits only is written zt:ID, which ztpipe never reads as an
# IPv4 address (2130706433 is 127.0.0.1).
_ztpipe_nodes() {
	zerotier-cli -j listpeers 2>/dev/null | tr ',{}' '\n\n\n' | awk -F'"' '
	    $2 == "address" && length($4) == 10 && $4 !~ /[^0-9a-f]/ { a = $4 }
	    $2 == "role" {
		if ($4 == "LEAF" && a != "") print (a ~ /[a-f]/ ? "" : "zt:") a
		a = ""
	    }'
}

# The networks this host has joined.
_ztpipe_networks() {
	zerotier-cli -j listnetworks 2>/dev/null | tr ',{}' '\n\n\n' | awk -F'"' '
	    $2 == "nwid" && length($4) == 16 && $4 !~ /[^0-9a-f]/ { print $4 }'
}

# _ztpipe_values OPTION: the words that may follow OPTION.
_ztpipe_values() {
	case $1 in
	--allow) echo zt ;;
	--network) _ztpipe_networks ;;
	--progress) echo always ;;
	esac
}

_ztpipe() {
	local shorts='-4 -6 -d -h -i -k -l -m -P -R -s -u -v -V -w -z'
	local longs='--ipv4 --ipv6 --6plane --addrs --allow --chat --help --idle
	    --keep-open --listen --max-conns --name --network --no-stdin --probe
	    --progress --progress=always --resolve --retry --send-only --source --udp
	    --verbose --version --wait'
	local IFS=$' \t\n' words=() cur opt prefix='' w i
	local listen=0 npos=0 expect='' ended=0

	# bash splits "--progress=al" into "--progress" "=" "al", and
	# "zt:12" into "zt" ":" "12": join them.
	for ((i = 1; i <= COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if ((${#words[@]} > 0)) && { [[ $w == = ]] ||
		    [[ ${COMP_WORDS[i-1]} == = && i -gt 1 ]]; } &&
		    [[ ${words[${#words[@]}-1]} == --* ]]; then
			words[${#words[@]}-1]+=$w
		elif ((${#words[@]} > 0)) &&
		    [[ ($w == : && ${words[${#words[@]}-1]} == zt) ||
		    (${COMP_WORDS[i-1]} == : && ${words[${#words[@]}-1]} == zt:) ]]
		then
			words[${#words[@]}-1]+=$w
		else
			words+=("$w")
		fi
	done
	cur=${words[${#words[@]}-1]}

	# What the words before this one mean: -l given? how many arguments?
	# an option still waiting for its value?
	for ((i = 0; i < ${#words[@]} - 1; i++)); do
		w=${words[i]}
		if [[ -n $expect ]]; then
			expect=''
		elif ((ended)) || [[ $w != -* || $w == - ]]; then
			npos=$((npos + 1))
		elif [[ $w == -- ]]; then
			ended=1
		elif [[ $w == --* ]]; then
			case $w in
			--listen) listen=1 ;;
			--allow|--idle|--max-conns|--name|--network|--retry|\
			--source|--wait) expect=$w ;;	# the value is the next word
			esac
		else
			# -lkw: l and k are flags; w takes the rest or the next word.
			w=${w#-}
			while [[ -n $w ]]; do
				case ${w:0:1} in
				l) listen=1 ;;
				i|m|R|s|w)
					[[ ${#w} -eq 1 ]] && expect=-${w:0:1}
					break ;;
				esac
				w=${w:1}
			done
		fi
	done

	COMPREPLY=()
	if [[ -n $expect ]]; then
		case $expect in
		--allow|--network) opt=$expect ;;
		*) return 0 ;;	# a number, a name, an address: no guess
		esac
		COMPREPLY=($(compgen -W "$(_ztpipe_values "$opt")" -- "$cur"))
	elif ((!ended)) && [[ $cur == --*=* ]]; then
		opt=${cur%%=*}
		# Where "=" does not split words, the reply replaces all of cur.
		[[ $COMP_WORDBREAKS == *=* ]] || prefix=$opt=
		COMPREPLY=($(compgen -P "$prefix" -W "$(_ztpipe_values "$opt")" \
		    -- "${cur#*=}"))
	elif ((!ended)) && [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$shorts $longs" -- "$cur"))
	elif ((listen || npos >= 1)); then
		# With -l: [address] [port]; else: host [port].  A port it is.
		((npos < 2)) && COMPREPLY=($(compgen -W 12345 -- "$cur"))
	elif [[ $cur == zt:* ]]; then
		# Where ":" splits words, the reply replaces what follows it.
		[[ $COMP_WORDBREAKS == *:* ]] || prefix=zt:
		w=$(_ztpipe_nodes)
		COMPREPLY=($(compgen -P "$prefix" -W "${w//zt:/}" -- "${cur#zt:}"))
	else
		# "12" finds zt:1234512345 too.
		for w in $(_ztpipe_nodes); do
			[[ $w == "$cur"* || $w == "zt:$cur"* ]] && COMPREPLY+=("$w")
		done
		COMPREPLY+=($(compgen -A hostname -- "$cur"))
	fi
	return 0
}

complete -F _ztpipe ztpipe
