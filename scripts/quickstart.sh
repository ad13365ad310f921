#!/usr/bin/env bash
# The main job on the built-in offline data: installs and builds, fetches the offline data
# (vocabulary, Brown, nlp-corpus, SpamAssassin) and builds the corpus and tasks, then runs the
# reduced TinyBERT pipeline (bench/pipeline.py --preset demo: pre-train a teacher -> fine-tune it
# on spam -> general distillation -> augmentation -> task distillation -> test-split evaluation and
# speed) into runs/demo (runs/demo-seedN with --seed N), printing the result table, where the
# student is and how to serve it.
# The full benchmark is `bench/pipeline.py --preset full` (see the README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fetch_data.sh
build/tinybert info
/usr/bin/python3 bench/pipeline.py --preset demo "$@"
