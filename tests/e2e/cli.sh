#!/usr/bin/env bash
# The command line: help, version, and one-line errors that name the
# option, with exit status 2 for usage errors.
set -u
. "$(dirname "$0")/../lib/netns.sh"
nn_init cli

out=$("$PNB_BIN" --version)
t_check "--version prints the version" \
	grep -qx "pinetboot $(cat "$NN_ROOT/VERSION")" <<<"$out"
out=$("$PNB_BIN" --help)
t_check "--help lists serve" grep -q '^  serve ' <<<"$out"
t_check "--help lists status" grep -q '^  status ' <<<"$out"
out=$("$PNB_BIN" serve --help)
for opt in --config --state-dir --address --interface --tftp-root \
	--tftp-port --dhcp --tftp --nfs; do
	t_check "serve --help documents $opt" grep -q -- "^  $opt " <<<"$out"
done

# usage_error EXPECTED-REGEX ARGS...: exit 2, one line, naming the fault.
usage_error() {
	local want=$1 err rc
	shift
	err=$("$PNB_BIN" "$@" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -eq 2 ] && [ "$(wc -l <<<"$err")" -eq 1 ] &&
		grep -qE -- "$want" <<<"$err"; then
		t_pass "error for: $*"
	else
		t_fail "error for: $*" "rc=$rc: $err"
	fi
}
usage_error "unknown command 'frob'" frob
usage_error "unknown option '--frob'" serve --frob
usage_error "--tftp-port: .*'70000' is not a number from 1 to 65535" \
	serve --tftp-port 70000
usage_error "--dhcp: 'maybe' is not a DHCP mode" serve --dhcp maybe
usage_error "--tftp: .*'sometimes' is not on or off" serve --tftp sometimes
usage_error "--address: .*'300.1.1.1' is not an IPv4 address" \
	serve --address 300.1.1.1
usage_error "--tftp-root: .*'relative' is not an absolute path" \
	serve --tftp-root relative
usage_error "option '--config' needs a value" serve --config
usage_error "unexpected argument 'extra'" serve extra
usage_error "needs an address pool" serve --dhcp server --address 127.0.0.1

printf '[tftp]\nport = 69\nwibble = 1\n' >"$NN_TMP/bad.conf"
err=$("$PNB_BIN" serve --config "$NN_TMP/bad.conf" 2>&1)
t_check "config error names file and line" \
	grep -q "bad.conf:3: unknown key 'wibble' in section \[tftp\]" \
	<<<"$err"
err=$("$PNB_BIN" serve --config "$NN_TMP/missing.conf" 2>&1)
t_check "missing config file is named" \
	grep -q "cannot open config .*missing.conf" <<<"$err"
t_done
