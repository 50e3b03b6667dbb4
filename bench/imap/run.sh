#!/usr/bin/env bash
# An IMAP workload against tidemark and Dovecot 2.3, side by side on this
# machine, same messages, fsync on for both.
#
#   bash bench/imap/run.sh [-c CLIENTS] [-n MSGS_PER_ACCOUNT] [-r ROUNDS]
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
# same on both. The workload runs twice: a fresh login per round, and one
# session per client.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CORPUS=${TIDEMARK_CORPUS_REALISTIC:-$ROOT/../shared/corpus/realistic}
CLIENTS=8
MSGS=300
ROUNDS=20
while getopts "c:n:r:" opt; do
	case $opt in
	c) CLIENTS=$OPTARG ;;
	n) MSGS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	*) echo "usage: $0 [-c clients] [-n msgs] [-r rounds]" >&2; exit 2 ;;
	esac
done
for tool in dovecot doveadm zstd go; do
	command -v "$tool" >/dev/null 2>&1 || { echo "missing $tool: apt-get install -y dovecot-imapd zstd" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/tidemark-imap-bench.XXXXXX")
chmod 755 "$WORK"
DOVECOT_PORT=24143
TIDEMARK_PORT=27143
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
	for _ in $(seq 1 100); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "port $1 never opened" >&2
	exit 1
}

load() {
	"$WORK/imapbench" load -addr "127.0.0.1:$1" -clients "$CLIENTS" -password "$PW" \
		-msgs "$MSGDIR" -n "$MSGS" -rounds "$ROUNDS" -user-fmt "$2%d@example.com"
	"$WORK/imapbench" load -addr "127.0.0.1:$1" -clients "$CLIENTS" -password "$PW" \
		-msgs "$MSGDIR" -n "$MSGS" -rounds "$ROUNDS" -user-fmt "$3%d@example.com" -login-per-round=false
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
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
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
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DOVECOT_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
CONF
dovecot -c "$d/dovecot.conf"
STOP="doveadm -c $d/dovecot.conf stop"
wait_port $DOVECOT_PORT
echo "== Dovecot $(dovecot --version | cut -d' ' -f1) (maildir, mail_fsync=always)"
load $DOVECOT_PORT a b
eval "$STOP"
STOP=

# --- tidemark -----------------------------------------------------------------
mkdir -p "$WORK/tidemark"
"$WORK/imapbench" serve -data "$WORK/tidemark" -addr "127.0.0.1:$TIDEMARK_PORT" \
	-accounts "$CLIENTS" -password "$PW" -user-fmt "a%d@example.com,b%d@example.com" >"$WORK/tidemark.out" 2>&1 &
SPID=$!
STOP="kill $SPID; wait $SPID"
wait_port $TIDEMARK_PORT
echo "== tidemark (engine defaults, redo log fsync per group commit)"
load $TIDEMARK_PORT a b
