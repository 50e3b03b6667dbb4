#!/usr/bin/env bash
# Import from a live IMAP server: "tidemark import imap" against mbsync
# copying the same Dovecot into tidemark over IMAP, on this machine, in one
# run, alternating which goes first.
#
#   bash bench/import/run.sh [-r ROUNDS]
#
# Needs: dovecot-imapd (Dovecot 2.3), isync (mbsync), openssl, zstd, python3,
# Go. The source is a Dovecot (maildir, IMAPS with a self-signed certificate)
# holding the whole realistic corpus (TIDEMARK_CORPUS/realistic, default
# ../shared/corpus/realistic beside the checkout): the first archive as
# INBOX, the others as folders, every message \Seen. Dovecot's index is
# built and the files are read once before the first round, so every round
# meets the same warm server.
#
# The target is one "tidemark serve" (defaults: real-time backup on, redo
# log fsync per group commit). Each round imports the whole mailbox twice,
# into two fresh accounts: once with "tidemark import imap --tls --sync"
# (submitted to the running server as an operation, which reads Dovecot
# over IMAPS and writes through the engine), once with mbsync pulling from
# Dovecot over IMAPS and APPENDing to tidemark over IMAPS (Create Near,
# Sync Pull, CopyArrivalDate yes, so internal dates are kept as the import
# keeps them; Patterns names the source's folders). The order alternates between rounds. After each copy the
# script counts the messages per folder over IMAP and fails if a copy is
# short. Times are wall clock from the command's start to its exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CORPUS=${TIDEMARK_CORPUS:-$ROOT/../shared/corpus}/realistic
ROUNDS=5
while getopts "r:" opt; do
	case $opt in
	r) ROUNDS=$OPTARG ;;
	*) echo "usage: $0 [-r rounds]" >&2; exit 2 ;;
	esac
done
for tool in dovecot doveadm mbsync openssl zstd python3 go; do
	command -v "$tool" >/dev/null 2>&1 || { echo "missing $tool: apt-get install -y dovecot-imapd isync openssl zstd python3" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/tidemark-import-bench.XXXXXX")
chmod 755 "$WORK"
PW=benchpw
DOVECOT_TLS_PORT=25993
TM_LMTP=29025
TM_IMAP=29143
TM_IMAPS=29993
STOP_DOVECOT=
STOP_TM=
cleanup() {
	[ -n "$STOP_TM" ] && eval "$STOP_TM" >/dev/null 2>&1 || true
	[ -n "$STOP_DOVECOT" ] && eval "$STOP_DOVECOT" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {
	for _ in $(seq 1 200); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "port $1 never opened" >&2
	exit 1
}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -r)"
echo "== $(dovecot --version | cut -d' ' -f1) / $(mbsync -v 2>&1 | head -1) / $(go version | cut -d' ' -f3)"

# --- the source: Dovecot holding the corpus ------------------------------------
d=$WORK/dovecot
mkdir -p "$d/run" "$d/home/Maildir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
first=1
for a in "$CORPUS"/*.tar.zst; do
	name=$(basename "$a" .tar.zst)
	tmp=$WORK/unpack
	rm -rf "$tmp" && mkdir -p "$tmp"
	zstd -dc "$a" | tar -xf - -C "$tmp"
	src=$(dirname "$(find "$tmp" -type d -name new | head -1)")
	if [ -n "$first" ]; then dst=$d/home/Maildir; first=; else dst=$d/home/Maildir/.$name; fi
	mkdir -p "$dst/cur" "$dst/new" "$dst/tmp"
	for f in "$src"/new/*; do mv "$f" "$dst/cur/$(basename "$f"):2,S"; done
done
rm -rf "$WORK/unpack"
# The source's folders by name: a new tidemark account already has Drafts,
# Junk, Sent and Trash, which mbsync would otherwise look for in Dovecot.
PATTERNS="INBOX $(cd "$d/home/Maildir" && ls -d .[!.]* | sed 's/^\.//' | tr '\n' ' ')"
MSGS=$(find "$d/home/Maildir" -path '*/cur/*' -type f | wc -l)
BYTES=$(find "$d/home/Maildir" -path '*/cur/*' -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
chown -R nobody:nogroup "$d/home"
NOBODY_UID=$(id -u nobody)
NOBODY_GID=$(getent group nogroup | cut -d: -f3)
echo "migrant:{PLAIN}$PW:$NOBODY_UID:$NOBODY_GID::$d/home" >"$d/passwd"
cat >"$d/dovecot.conf" <<CONF
base_dir = $d/run
state_dir = $d/run
log_path = $d/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <$d/cert.pem
ssl_key = <$d/key.pem
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = $d/passwd
}
userdb {
  driver = passwd-file
  args = $d/passwd
}
namespace inbox {
  inbox = yes
  separator = /
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $DOVECOT_TLS_PORT
  }
  chroot =
}
service anvil {
  chroot =
}
CONF
dovecot -c "$d/dovecot.conf"
STOP_DOVECOT="doveadm -c $d/dovecot.conf stop"
wait_port $DOVECOT_TLS_PORT
doveadm -c "$d/dovecot.conf" index -u migrant '*'
find "$d/home" -type f -exec cat {} + >/dev/null
echo "== source: $MSGS messages, $((BYTES / 1000000)) MB (file bytes, LF) in $(find "$d/home/Maildir" -name cur -type d | wc -l) folders"

# --- the target: one tidemark server --------------------------------------------
(cd "$ROOT" && go build -o "$WORK/tidemark" ./cmd/tidemark)
TM=$WORK/tidemark
DATA=$WORK/tm/data
"$TM" init --data "$DATA" >/dev/null
"$TM" serve --data "$DATA" --lmtp "127.0.0.1:$TM_LMTP" --imap "127.0.0.1:$TM_IMAP" --imaps "127.0.0.1:$TM_IMAPS" >"$WORK/tm.log" 2>&1 &
TPID=$!
STOP_TM="kill $TPID; wait $TPID"
wait_port $TM_IMAPS
"$TM" domain create example.com --data "$DATA" >/dev/null

# count HOST PORT USER CAFILE: messages over all folders, over IMAPS.
count() {
	python3 - "$@" <<'PY'
import imaplib, ssl, sys, re
host, port, user, pw, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
m = imaplib.IMAP4_SSL(host, port, ssl_context=ctx)
m.login(user, pw)
total = 0
for line in m.list()[1]:
    name = re.match(rb'\(.*?\) (?:"."|NIL) (.*)', line).group(1).decode()
    if name.startswith('"'):
        name = name[1:-1]
    typ, st = m.status('"%s"' % name, '(MESSAGES)')
    total += int(re.search(rb'MESSAGES (\d+)', st[0]).group(1))
print(total)
PY
}

SRC_COUNT=$(count 127.0.0.1 $DOVECOT_TLS_PORT migrant "$PW" "$d/cert.pem")
[ "$SRC_COUNT" = "$MSGS" ] || { echo "Dovecot serves $SRC_COUNT messages, the maildir holds $MSGS" >&2; exit 1; }

now() { date +%s.%N; }

run_import() { # ACCOUNT
	local t0 t1
	t0=$(now)
	echo "$PW" | "$TM" import imap --host 127.0.0.1 --port $DOVECOT_TLS_PORT --tls --ca "$d/cert.pem" \
		--user migrant --password-stdin --into "$1" --data "$DATA" --sync >"$WORK/import.out" 2>"$WORK/import.err" ||
		{ cat "$WORK/import.out" "$WORK/import.err" >&2; exit 1; }
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}

run_mbsync() { # ACCOUNT ROUND
	local t0 t1 conf=$WORK/mbsync-$2.rc
	mkdir -p "$WORK/mbsync-state-$2"
	cat >"$conf" <<RC
IMAPAccount dovecot
Host 127.0.0.1
Port $DOVECOT_TLS_PORT
User migrant
Pass $PW
SSLType IMAPS
CertificateFile $d/cert.pem

IMAPStore dovecot
Account dovecot

IMAPAccount tidemark
Host 127.0.0.1
Port $TM_IMAPS
User $1
Pass $PW
SSLType IMAPS
CertificateFile $DATA/tls/cert.pem

IMAPStore tidemark
Account tidemark

Channel copy
Far :dovecot:
Near :tidemark:
Patterns $PATTERNS
Create Near
Sync Pull
Expunge None
CopyArrivalDate yes
SyncState $WORK/mbsync-state-$2/
RC
	t0=$(now)
	mbsync -c "$conf" -a -q >"$WORK/mbsync.out" 2>&1 || { cat "$WORK/mbsync.out" >&2; exit 1; }
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}

check() { # ACCOUNT WHO
	local n
	n=$(count 127.0.0.1 $TM_IMAPS "$1" "$PW" "$DATA/tls/cert.pem")
	[ "$n" = "$MSGS" ] || { echo "$2 copied $n of $MSGS messages into $1" >&2; exit 1; }
}

echo "round  first    tidemark-import(s)  mbsync(s)  ratio"
IMP=()
MBS=()
for r in $(seq 1 "$ROUNDS"); do
	for who in imp mbs; do
		echo "$PW" | "$TM" account create "$who$r@example.com" --password-stdin --data "$DATA" >/dev/null
	done
	if [ $((r % 2)) = 1 ]; then
		ti=$(run_import "imp$r@example.com"); check "imp$r@example.com" import
		tm=$(run_mbsync "mbs$r@example.com" "$r"); check "mbs$r@example.com" mbsync
		first=import
	else
		tm=$(run_mbsync "mbs$r@example.com" "$r"); check "mbs$r@example.com" mbsync
		ti=$(run_import "imp$r@example.com"); check "imp$r@example.com" import
		first=mbsync
	fi
	IMP+=("$ti")
	MBS+=("$tm")
	printf "%5d  %-7s  %18.2f  %9.2f  %5.2fx\n" "$r" "$first" "$ti" "$tm" "$(echo "$tm / $ti" | bc -l)"
done

python3 - "${IMP[*]}" "${MBS[*]}" "$MSGS" "$BYTES" <<'PY'
import statistics, sys
imp = [float(x) for x in sys.argv[1].split()]
mbs = [float(x) for x in sys.argv[2].split()]
n, b = int(sys.argv[3]), int(sys.argv[4])
ratios = [m / i for i, m in zip(imp, mbs)]
for name, xs in (("tidemark import", imp), ("mbsync", mbs)):
    med = statistics.median(xs)
    print(f"{name:16s} median {med:6.2f} s (range {min(xs):.2f}-{max(xs):.2f}), {n/med:6.0f} msg/s, {b/med/1e6:5.1f} MB/s")
print(f"speed-up (mbsync time / import time, per round): median {statistics.median(ratios):.2f}x, range {min(ratios):.2f}-{max(ratios):.2f}x")
PY
