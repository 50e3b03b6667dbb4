#!/usr/bin/env bash
# LMTP deliveries per second into tidemark and into Dovecot 2.3, side by
# side on this machine, same messages, fsync on for both. Load comes from
# Postfix's smtp-source speaking LMTP with 4 and 16 parallel sessions.
#
#   bash bench/lmtp/run.sh [-m MESSAGES_PER_FILE] [-k FILES] [-s "4 16"] [-r ROUNDS]
#
# Needs: dovecot-core dovecot-lmtpd postfix (smtp-source), zstd, Go.
# The corpus is ../shared/corpus/realistic (TIDEMARK_CORPUS_REALISTIC
# overrides). K messages are taken at evenly spaced size quantiles of the
# two list archives (no mbox "From " lines); for every session count each
# server receives every file M times (smtp-source -F: the file's lines go
# out CRLF-terminated and dot-stuffed), one recipient per message, the
# session kept open between messages (-d) as an MTA does. Each server runs
# from a fresh data directory on the same disk; Dovecot stores maildir with
# mail_fsync=always, tidemark acknowledges after its redo-log fsync.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CORPUS=${TIDEMARK_CORPUS_REALISTIC:-$ROOT/../shared/corpus/realistic}
PER_FILE=200
FILES=10
SESSIONS="4 16"
ROUNDS=1
while getopts "m:k:s:r:" opt; do
	case $opt in
	m) PER_FILE=$OPTARG ;;
	k) FILES=$OPTARG ;;
	s) SESSIONS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	*) echo "usage: $0 [-m per-file] [-k files] [-s sessions] [-r rounds]" >&2; exit 2 ;;
	esac
done

for tool in smtp-source dovecot doveadm zstd go; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "missing $tool: apt-get install -y dovecot-core dovecot-lmtpd postfix zstd" >&2
		exit 1
	fi
done
[ -d "$CORPUS" ] || { echo "no corpus at $CORPUS" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/tidemark-lmtp-bench.XXXXXX")
chmod 755 "$WORK" # Dovecot delivers as nobody
DOVECOT_PORT=24024
TIDEMARK_PORT=27025
RCPT=bench@example.com
SERVER_PID=
cleanup() {
	stop_server || true
	rm -rf "$WORK"
}
trap cleanup EXIT

log() { echo "$*" >&2; }

# --- messages ---------------------------------------------------------------
mkdir -p "$WORK/corpus" "$WORK/msgs"
for a in usrp-users-2021 linux-security-module-2020H1; do
	zstd -dc "$CORPUS/$a.tar.zst" | tar -xf - -C "$WORK/corpus"
done
# index.tsv: file size sha256 ...; pick FILES messages at size quantiles.
find "$WORK/corpus" -path '*/new/*' -type f -printf '%s %p\n' | sort -n >"$WORK/sizes"
total=$(wc -l <"$WORK/sizes")
for i in $(seq 0 $((FILES - 1))); do
	line=$(((2 * i + 1) * total / (2 * FILES) + 1))
	f=$(sed -n "${line}p" "$WORK/sizes" | cut -d' ' -f2-)
	cp "$f" "$WORK/msgs/$(printf %02d "$i").eml"
done
rm -rf "$WORK/corpus"
MSG_BYTES=$(cat "$WORK"/msgs/*.eml | wc -c)
log "messages: $FILES files, $MSG_BYTES bytes (sizes: $(stat -c %s "$WORK"/msgs/*.eml | tr '\n' ' '))"

# --- servers ----------------------------------------------------------------
start_dovecot() {
	local d=$WORK/dovecot
	rm -rf "$d"
	mkdir -p "$d/run" "$d/mail"
	chown nobody:nogroup "$d/mail"
	cat >"$d/dovecot.conf" <<CONF
base_dir = $d/run
state_dir = $d/run
log_path = $d/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
mail_location = maildir:$d/mail/%n/Maildir
mail_fsync = always
lmtp_rcpt_check_quota = no
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$d/mail/%n allow_all_users=yes
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $DOVECOT_PORT
  }
  process_min_avail = 4
}
service anvil {
  chroot =
}
CONF
	dovecot -c "$d/dovecot.conf"
	SERVER_STOP="doveadm -c $d/dovecot.conf stop"
	wait_port $DOVECOT_PORT
}

count_dovecot() {
	find "$WORK/dovecot/mail" -path '*/new/*' -type f -o -path '*/cur/*' -type f | wc -l
}

start_tidemark() {
	local d=$WORK/tidemark
	rm -rf "$d"
	mkdir -p "$d"
	"$WORK/tidemark-lmtp" -data "$d/data" -addr "127.0.0.1:$TIDEMARK_PORT" -account "$RCPT" \
		-count-file "$d/count" 2>"$d/server.log" &
	SERVER_PID=$!
	SERVER_STOP="kill -TERM $SERVER_PID"
	wait_port $TIDEMARK_PORT
}

count_tidemark() {
	cat "$WORK/tidemark/count"
}

stop_server() {
	if [ -n "${SERVER_STOP:-}" ]; then
		$SERVER_STOP >/dev/null 2>&1 || true
		if [ -n "$SERVER_PID" ]; then
			wait "$SERVER_PID" 2>/dev/null || true
		fi
		SERVER_STOP=
		SERVER_PID=
		sleep 0.5
	fi
}

wait_port() {
	for _ in $(seq 1 100); do
		if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	log "server did not open port $1"
	exit 1
}

# run_load PORT SESSIONS: every file PER_FILE times; prints elapsed seconds.
run_load() {
	local port=$1 s=$2 start end
	start=$(date +%s.%N)
	for f in "$WORK"/msgs/*.eml; do
		smtp-source -L -s "$s" -m "$PER_FILE" -d -M bench.test -f sender@example.org -t "$RCPT" \
			-F "$f" "127.0.0.1:$port"
	done
	end=$(date +%s.%N)
	echo "$end - $start" | bc -l
}

log "building the tidemark LMTP bench server"
(cd "$ROOT" && go build -o "$WORK/tidemark-lmtp" ./bench/lmtp/tidemark-lmtp)

expected=$((PER_FILE * FILES))
: >"$WORK/results"
printf '%-9s %8s %10s %10s %12s\n' server sessions messages seconds deliveries/s
for round in $(seq 1 "$ROUNDS"); do
	for s in $SESSIONS; do
		for server in dovecot tidemark; do
			"start_$server"
			secs=$(run_load "$([ $server = dovecot ] && echo $DOVECOT_PORT || echo $TIDEMARK_PORT)" "$s")
			stop_server
			got=$("count_$server")
			if [ "$got" != "$expected" ]; then
				log "$server stored $got messages, expected $expected"
				exit 1
			fi
			rate=$(echo "$expected / $secs" | bc -l)
			printf '%-9s %8s %10s %10.2f %12.0f\n' "$server" "$s" "$expected" "$secs" "$rate"
			echo "$server $s $round $rate" >>"$WORK/results"
		done
	done
done

# Medians over rounds, and the median of the per-round ratios (the two
# servers of a round ran back to back, so their ratio is the fairer figure
# on a machine with other load).
echo
printf '%-9s %8s %14s\n' server sessions median/s
for s in $SESSIONS; do
	for server in dovecot tidemark; do
		med=$(awk -v sv=$server -v ss=$s '$1==sv && $2==ss {print $4}' "$WORK/results" | sort -g |
			awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
		printf '%-9s %8s %14.0f\n' "$server" "$s" "$med"
	done
	ratio=$(awk -v ss=$s '$2==ss {r[$3" "$1]=$4; k[$3]=1} END {for (i in k) print r[i" tidemark"]/r[i" dovecot"]}' "$WORK/results" |
		sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
	printf '%-9s %8s %13.1fx\n' ratio "$s" "$ratio"
done
