#!/usr/bin/env bash
# An IMAP workload against tidemark and Dovecot 2.3, side by side on this
# machine, same messages, fsync on for both.
#
#   bash bench/imap/run.sh [-c CLIENTS] [-n MSGS_PER_ACCOUNT] [-r ROUNDS] [-t]
#
# Needs: dovecot-imapd (Dovecot 2.3), zstd, Go. Messages: the first N of
# spamassassin-easy-ham-2 from the realistic corpus
# (TIDEMARK_CORPUS_REALISTIC overrides the directory), CRLF-normalised by
# the load generator. Each of C clients owns one account: it APPENDs the N
# messages (timed as the append phase), then runs R rounds of LOGIN,
# SELECT, FETCH headers of all, FETCH 20 bodies, STORE +FLAGS on 20,
# SEARCH (flags; Subject), STORE \Deleted on 2 + EXPUNGE, LOGOUT.
# tidemark runs from bench/imap (`imapbench serve`, engine defaults: redo
# log fsync before every acknowledgement); Dovecot stores maildir with
# mail_fsync=always. Each server starts from an empty data directory.
# Both verify the same bcrypt hash cost (tidemark's engine default, 10):
# Dovecot's passdb holds a BLF-CRYPT hash of that cost, so LOGIN costs the
# same on both. The workload runs twice in cleartext: a fresh login per
# round, and one session per client. -t adds a third pass over implicit
# TLS (IMAPS, fresh login per round, one more set of accounts) with the
# same self-signed ECDSA P-256 certificate on both servers (needs openssl);
# the cleartext passes stay as without -t apart from both servers then
# having a certificate configured.
#
#   bash bench/imap/run.sh -x [-R] [-c CLIENTS] [-n MSGS] [-r ROUNDS] [-T TOTAL] [-P PROFDIR]
#
# -x runs both servers at once and `imapbench compare` against them:
# R rounds alternating tidemark and Dovecot (the order swaps every round),
# each round on each server: the workload above on long-lived sessions
# and with a login per round (10 iterations per client), a CONDSTORE
# resync of a 10,000-message folder after 100 STOREs from another session
# (FETCH 1:* (FLAGS) (CHANGEDSINCE m): bytes and time, against a full
# FETCH 1:* (FLAGS)), and FETCH 1:* BODY.PEEK[] of the realistic corpus
# (every message of its four archives, about 7,900, in one account) while
# the server's memory is sampled every 50 ms: tidemark's RSS, Dovecot's
# PSS summed over its master and every descendant process. Before the
# rounds both are filled to TOTAL messages (default 100,000) and their
# memory is read after 5 idle seconds. Dovecot's large accounts (resync,
# bulk, filler) are written as maildir files and indexed by a SELECT, as
# its APPEND with mail_fsync=always is too slow on a loaded machine to
# store 100,000 messages in a run. Dovecot's auth cache is on with the
# TTL of tidemark's (5 minutes), as both keep a strong bcrypt hash of cost
# 10. The long-session case also reports the CPU the server and the load
# generator used while it ran (/proc/PID/stat; Dovecot summed over its
# processes with the children they waited for) and the server's CPU per
# round. After the rounds, 200 sessions (25 per workload account) each
# LOGIN, SELECT INBOX and IDLE, and both servers' memory is read again
# (Dovecot's process limits are raised to allow them). -P writes
# tidemark's CPU and allocation profiles into PROFDIR and serves
# net/http/pprof on 127.0.0.1:27060 (heap profiles while it runs).
# -R (with -x) runs the tidemark binary itself (`tidemark serve`, built
# from cmd/tidemark, with the real-time backup scanner, metrics and LMTP
# on, as an administrator runs it) instead of `imapbench serve` (the
# engine and the IMAP server alone); its connection limits are raised to
# allow the 200 IDLE sessions and its accounts are created with
# `tidemark account create`. -P does not apply to it; TIDEMARK_SERVE_ARGS
# adds flags to its serve command (--no-backup: the scanner off).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CORPUS=${TIDEMARK_CORPUS_REALISTIC:-$ROOT/../shared/corpus/realistic}
CLIENTS=8
MSGS=300
ROUNDS=20
TLS=
COMPARE=
TOTAL=100000
PROFDIR=
REAL=
while getopts "c:n:r:tT:xP:R" opt; do
	case $opt in
	c) CLIENTS=$OPTARG ;;
	n) MSGS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	t) TLS=1 ;;
	x) COMPARE=1 ;;
	T) TOTAL=$OPTARG ;;
	P) PROFDIR=$OPTARG ;;
	R) REAL=1 ;;
	*) echo "usage: $0 [-x [-R] [-T total] [-P profdir]] [-c clients] [-n msgs] [-r rounds] [-t]" >&2; exit 2 ;;
	esac
done
for tool in dovecot doveadm zstd go; do
	command -v "$tool" >/dev/null 2>&1 || { echo "missing $tool: apt-get install -y dovecot-imapd zstd" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/tidemark-imap-bench.XXXXXX")
chmod 755 "$WORK"
DOVECOT_PORT=24143
TIDEMARK_PORT=27143
DOVECOT_TLS_PORT=24993
TIDEMARK_TLS_PORT=27993
PW=benchpw
STOP=
cleanup() {
	[ -n "$STOP" ] && eval "$STOP" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/corpus"
zstd -dc "$CORPUS/spamassassin-easy-ham-2.tar.zst" | tar -xf - -C "$WORK/corpus"
MSGDIR=$(find "$WORK/corpus" -type d -name new | head -1)
if [ -n "${IMAPBENCH:-}" ]; then cp "$IMAPBENCH" "$WORK/imapbench"; else (cd "$ROOT" && go build -o "$WORK/imapbench" ./bench/imap); fi

wait_port() {
	for _ in $(seq 1 600); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "port $1 never opened" >&2
	exit 1
}

if [ -n "$TLS" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
	chmod 644 "$WORK/key.pem"
fi

# load PORT TLS_PORT SET1 SET2 SET3
load() {
	"$WORK/imapbench" load -addr "127.0.0.1:$1" -clients "$CLIENTS" -password "$PW" \
		-msgs "$MSGDIR" -n "$MSGS" -rounds "$ROUNDS" -user-fmt "$3%d@example.com"
	"$WORK/imapbench" load -addr "127.0.0.1:$1" -clients "$CLIENTS" -password "$PW" \
		-msgs "$MSGDIR" -n "$MSGS" -rounds "$ROUNDS" -user-fmt "$4%d@example.com" -login-per-round=false
	if [ -n "$TLS" ]; then
		"$WORK/imapbench" load -addr "127.0.0.1:$2" -clients "$CLIENTS" -password "$PW" \
			-msgs "$MSGDIR" -n "$MSGS" -rounds "$ROUNDS" -user-fmt "$5%d@example.com" -tls
	fi
}

# --- Dovecot ------------------------------------------------------------------
d=$WORK/dovecot
mkdir -p "$d/run" "$d/mail"
chown nobody:nogroup "$d/mail"
cat >"$d/dovecot.conf" <<CONF
base_dir = $d/run
state_dir = $d/run
log_path = $d/dovecot.log
protocols = imap
listen = 127.0.0.1
$(if [ -n "$TLS" ]; then printf 'ssl = yes\nssl_cert = <%s\nssl_key = <%s' "$WORK/cert.pem" "$WORK/key.pem"; else echo "ssl = no"; fi)
disable_plaintext_auth = no
auth_mechanisms = plain login
$(if [ -n "$COMPARE" ]; then printf 'auth_cache_size = 10M\nauth_cache_ttl = 5 mins\nauth_cache_negative_ttl = 0'; fi)
mail_location = maildir:$d/mail/%n/Maildir
mail_fsync = always
passdb {
  driver = static
  args = password=$(doveadm pw -s BLF-CRYPT -r 10 -p "$PW")
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$d/mail/%n allow_all_users=yes
}
protocol imap {
  mail_max_userip_connections = 400
}
service imap {
  process_limit = 400
}
service imap-login {
  process_limit = 400
  inet_listener imap {
    address = 127.0.0.1
    port = $DOVECOT_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $([ -n "$TLS" ] && echo $DOVECOT_TLS_PORT || echo 0)
  }
}
service anvil {
  chroot =
}
CONF
dovecot -c "$d/dovecot.conf"
STOP="doveadm -c $d/dovecot.conf stop"
wait_port $DOVECOT_PORT
if [ -n "$COMPARE" ]; then
	mkdir -p "$WORK/tidemark" "$WORK/bulk"
	for a in "$CORPUS"/*.tar.zst; do zstd -dc "$a" | tar -xf - -C "$WORK/bulk"; done
	WHAT="engine defaults, imapbench serve"
	if [ -n "$REAL" ]; then
		WHAT="tidemark serve ${TIDEMARK_SERVE_ARGS:-}, defaults"
		(cd "$ROOT" && go build -o "$WORK/tidemark-bin" ./cmd/tidemark)
		TM=("$WORK/tidemark-bin" --log-level warn)
		"${TM[@]}" init --data "$WORK/tidemark" >/dev/null
		sed -i -e 's/^\(  max_connections_per_account\) = .*/\1 = 1000/' \
			-e 's/^\(  max_connections_per_ip\) = .*/\1 = 1000/' "$WORK/tidemark/tidemark.toml"
		"${TM[@]}" serve --data "$WORK/tidemark" --imap "127.0.0.1:$TIDEMARK_PORT" --imaps off --lmtp 127.0.0.1:27025 \
			--http off --socketmap off --allow-cleartext-login ${TIDEMARK_SERVE_ARGS:-} >"$WORK/tidemark.out" 2>&1 &
		SPID=$!
		STOP="$STOP; kill -INT $SPID; wait $SPID"
		wait_port $TIDEMARK_PORT
		"${TM[@]}" domain create example.com --data "$WORK/tidemark" >/dev/null
		for f in s l r k f; do
			for i in $(seq 0 $((CLIENTS - 1))); do
				printf '%s\n' "$PW" | "${TM[@]}" account create "$f$i@example.com" --password-stdin --data "$WORK/tidemark" >/dev/null
			done
		done
	else
		PROF=()
		[ -n "$PROFDIR" ] && PROF=(-cpuprofile "$PROFDIR/cpu.pprof" -memprofile "$PROFDIR/allocs.pprof" -pprof 127.0.0.1:27060)
		"$WORK/imapbench" serve -data "$WORK/tidemark" -addr "127.0.0.1:$TIDEMARK_PORT" "${PROF[@]}" ${IMAPBENCH_SERVE_ARGS:-} \
			-accounts "$CLIENTS" -password "$PW" -user-fmt "s%d@example.com,l%d@example.com,r%d@example.com,k%d@example.com,f%d@example.com" \
			>"$WORK/tidemark.out" 2>&1 &
		SPID=$!
		STOP="$STOP; kill -INT $SPID; wait $SPID"
		wait_port $TIDEMARK_PORT
	fi
	echo "== Dovecot $(dovecot --version | cut -d' ' -f1) (maildir, mail_fsync=always, BLF-CRYPT cost 10, auth cache 5 min) against tidemark ($WHAT), alternating; load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
	"$WORK/imapbench" compare -tidemark "127.0.0.1:$TIDEMARK_PORT" -tidemark-pid "$SPID" \
		-dovecot "127.0.0.1:$DOVECOT_PORT" -dovecot-pid "$(cat "$d/run/master.pid")" -dovecot-maildir "$d/mail" \
		-password "$PW" -msgs "$MSGDIR" -bulk "$WORK/bulk" -clients "$CLIENTS" -n "$MSGS" -rounds "$ROUNDS" -total "$TOTAL"
	eval "$STOP"
	STOP=
	exit 0
fi
echo "== Dovecot $(dovecot --version | cut -d' ' -f1) (maildir, mail_fsync=always)"
load $DOVECOT_PORT $DOVECOT_TLS_PORT a b c
eval "$STOP"
STOP=

# --- tidemark -----------------------------------------------------------------
mkdir -p "$WORK/tidemark"
USERS="a%d@example.com,b%d@example.com"
TLSARGS=()
if [ -n "$TLS" ]; then
	USERS="$USERS,c%d@example.com"
	TLSARGS=(-tls-addr "127.0.0.1:$TIDEMARK_TLS_PORT" -tls-cert "$WORK/cert.pem" -tls-key "$WORK/key.pem")
fi
"$WORK/imapbench" serve -data "$WORK/tidemark" -addr "127.0.0.1:$TIDEMARK_PORT" "${TLSARGS[@]}" \
	-accounts "$CLIENTS" -password "$PW" -user-fmt "$USERS" >"$WORK/tidemark.out" 2>&1 &
SPID=$!
STOP="kill $SPID; wait $SPID"
wait_port $TIDEMARK_PORT
echo "== tidemark (engine defaults, redo log fsync per group commit)"
load $TIDEMARK_PORT $TIDEMARK_TLS_PORT a b c
