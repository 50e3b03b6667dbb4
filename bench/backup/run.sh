#!/usr/bin/env bash
# Backup benchmarks (docs/BENCHMARKS.md, "## backup"):
#   1. lag commit → durable in the repository at a steady 200 msg/s of the
#      realistic corpus, to a local directory and to versitygw (posix);
#   2. first full backup of the whole realistic corpus vs restic 0.14
#      (repository v2, zstd "auto") backing up the same messages as a
#      maildir, in the same run: repository size and time.
#
#   bash bench/backup/run.sh [-d SECONDS]
#
# Needs: Go, restic (apt-get install -y restic), versitygw (.ci/s3.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CORPUS=${TIDEMARK_CORPUS_REALISTIC:-$ROOT/../shared/corpus/realistic}
DUR=20
while getopts "d:" opt; do
	case $opt in
	d) DUR=$OPTARG ;;
	*) exit 2 ;;
	esac
done
cd "$ROOT"
VGW=$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")
go run ./bench/backup -mode lag -duration "${DUR}s" -corpus "$CORPUS"
go run ./bench/backup -mode lag -duration "${DUR}s" -ship 250ms -s3 "$VGW" -corpus "$CORPUS"
go run ./bench/backup -mode full -corpus "$CORPUS"
