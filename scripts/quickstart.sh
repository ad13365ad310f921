#!/usr/bin/env bash
# The main job on the built-in offline data, today: installs and builds, fetches the offline data
# (vocabulary, Brown, nlp-corpus, SpamAssassin) and builds the corpus and tasks, then runs the
# miniature pipeline (scripts/pipeline_demo.sh: pre-train -> fine-tune -> general distillation ->
# augmentation -> task distillation -> evaluation) into runs/demo. About 9 minutes after the build
# on 2 cores. Issue 6 replaces it with the sized pipeline and its report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fetch_data.sh
build/tinybert info
bash scripts/pipeline_demo.sh runs/demo
