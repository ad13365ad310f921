#!/usr/bin/env bash
# A miniature TinyBERT pipeline on the offline data, every stage a real tinybert command, sized to
# finish in a few minutes on 2 cores (so the scores are low; issue 6 sizes the real run):
#   pre-train a small teacher on part of corpus.txt -> fine-tune it on spam -> general distillation
#   of a smaller student -> augment spam's training set -> task distillation -> evaluate both.
# Usage: scripts/pipeline_demo.sh [RUN_DIR]   (needs build/ and scripts/fetch_data.sh's data/)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/demo}
B=build/tinybert
mkdir -p "$RUN/data/spam"
head -n 8000 data/corpus.txt > "$RUN/corpus.txt"
head -n 1001 data/spam/train.tsv > "$RUN/data/spam/train.tsv"
cp data/spam/dev.tsv data/spam/test.tsv "$RUN/data/spam/"
cat > "$RUN/teacher.json" <<'JSON'
{"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 512,
 "max_position_embeddings": 128, "vocab_size": 30522}
JSON
cat > "$RUN/student.json" <<'JSON'
{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
 "max_position_embeddings": 128, "vocab_size": 30522}
JSON
step() { echo; echo "== $*"; }
step "1/6 pre-train the teacher (4L-128H) on $(wc -l < "$RUN/corpus.txt") corpus lines"
$B pretrain --corpus "$RUN/corpus.txt" --eval-corpus data/corpus_dev.txt --model-config "$RUN/teacher.json" \
  --vocab data/vocab.txt --output "$RUN/teacher-mlm" --epochs 1 --batch-size 32 --max-length 64 --lr 5e-4 --log-every 50
step "2/6 fine-tune the teacher on spam (1,000 training rows)"
$B finetune --model "$RUN/teacher-mlm/best" --task generic --data "$RUN/data/spam" --output "$RUN/teacher-spam" \
  --epochs 2 --batch-size 32 --max-length 128 --lr 3e-4 --log-every 20
step "3/6 general distillation of the student (2L-64H)"
$B distill --stage general --teacher "$RUN/teacher-mlm/best" --student-config "$RUN/student.json" \
  --corpus "$RUN/corpus.txt" --output "$RUN/student-general" --epochs 1 --batch-size 32 --max-length 64 --lr 1e-3 --log-every 50
step "4/6 augment spam's training set with the teacher's MLM"
$B augment --model "$RUN/teacher-mlm/best" --task generic --input "$RUN/data/spam/train.tsv" \
  --output "$RUN/data/spam/train_aug.tsv" --n-aug 4
step "5/6 task distillation (intermediate, then prediction) on the augmented set"
$B distill --stage task --teacher "$RUN/teacher-spam/best" --student "$RUN/student-general/best" --task generic \
  --data "$RUN/data/spam" --train-file "$RUN/data/spam/train_aug.tsv" --output "$RUN/student-spam" \
  --intermediate-epochs 1 --prediction-epochs 1 --intermediate-lr 1e-3 --prediction-lr 5e-4 --batch-size 32 \
  --max-length 128 --eval-every 50 --log-every 50
step "6/6 evaluate on the spam test split"
for m in teacher-spam student-spam; do
  printf '%-14s %s\n' "$m" "$($B eval --model "$RUN/$m/best" --task generic --data "$RUN/data/spam" --split test 2>/dev/null)"
done
echo
echo "distilled student: $RUN/student-spam/best (serve it once issue 5's 'tinybert serve' exists; today:"
echo "  echo '{\"text\": \"Free money, click now\"}' | $B predict --model $RUN/student-spam/best)"
