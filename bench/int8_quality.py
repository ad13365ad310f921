#!/usr/bin/env python3
"""Quality of int8 students: each task's TinyBERT student of a pipeline run (bench/pipeline.py) is
quantized with `tinybert quantize` and both are evaluated with `tinybert eval` on the task's test
split; prints the metric of each, the difference in points, and how many test predictions agree,
and saves bench/results/int8_quality.{md,json} with the command and commit.

Usage: bench/int8_quality.py --run RUN_DIR [--bin build/tinybert]
(RUN_DIR from `bench/pipeline.py --preset demo3 --run RUN_DIR`: spam, genre and next)
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRIC = {"spam": "f1", "genre": "accuracy", "next": "accuracy"}


def sh(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return r.stdout


def evaluate(args, model, data, out):
    """Metrics (`eval`) and per-example labels (`predict` on the same texts) on the test split."""
    metrics = json.loads(sh([args.bin, "eval", "--model", model, "--task", "generic", "--data", data, "--split",
                             "test", "--max-length", "128", "--output", out]))
    with open(os.path.join(data, "test.tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f]
    lines = "".join(json.dumps({k: r[k] for k in ("text", "text_pair") if k in r}) + "\n" for r in rows)
    r = subprocess.run([args.bin, "predict", "--model", model, "--max-length", "128"], input=lines,
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"predict failed:\n{r.stderr}")
    return metrics, [json.loads(x)["label"] for x in r.stdout.splitlines()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "tinybert"))
    args = ap.parse_args()
    commit = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).strip()
    rows = []
    for task, metric in METRIC.items():
        student = os.path.join(args.run, task, "tinybert", "best")
        if not os.path.isdir(student):
            sys.exit(f"{student} is missing: run bench/pipeline.py --preset demo3 --run {args.run} first")
        q = os.path.join(args.run, task, "tinybert-int8")
        sh([args.bin, "quantize", "--model", student, "--output", q])
        data = os.path.join(args.run, "data", task)
        m32, p32 = evaluate(args, student, data, os.path.join(args.run, task, "int8_quality_fp32.json"))
        m8, p8 = evaluate(args, q, data, os.path.join(args.run, task, "int8_quality_int8.json"))
        agree = sum(a == b for a, b in zip(p32, p8)) / len(p32)
        row = dict(task=task, metric=metric, fp32=m32[metric], int8=m8[metric],
                   points=100 * (m8[metric] - m32[metric]), agreement=agree, examples=len(p32))
        rows.append(row)
        print(f"{task} {metric}: fp32 {row['fp32']:.4f}, int8 {row['int8']:.4f} ({row['points']:+.2f} points), "
              f"predictions agree on {100 * agree:.1f}% of {len(p32)}", flush=True)
    command = "python3 bench/int8_quality.py " + " ".join(sys.argv[1:])
    res = os.path.join(ROOT, "bench", "results")
    with open(os.path.join(res, "int8_quality.json"), "w") as f:
        json.dump(dict(command=command, commit=commit, rows=rows), f, indent=1)
    with open(os.path.join(res, "int8_quality.md"), "w") as f:
        f.write(f"# int8 students against fp32 on the test splits\n\n`{command}` at git {commit}: each task's "
                "TinyBERT student of the run, `tinybert quantize`d (encoder Linear layers int8 per output channel, "
                "activations per call), both evaluated by `tinybert eval --split test`.\n\n"
                "| task | metric | fp32 | int8 | difference (points) | predictions agreeing | test examples |\n"
                "|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['task']} | {r['metric']} | {r['fp32']:.4f} | {r['int8']:.4f} | {r['points']:+.2f} | "
                    f"{100 * r['agreement']:.1f}% | {r['examples']} |\n")
    print("wrote bench/results/int8_quality.md and .json")


if __name__ == "__main__":
    main()
