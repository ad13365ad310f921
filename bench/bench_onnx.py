#!/usr/bin/env python3
"""The race against ONNX Runtime: `tinybert bench` (fp32, int8, optionally bf16) and ONNX Runtime (CPU,
onnxruntime-node; fp32, and int8 on the exported int8 model) on the models `tinybert export` wrote
from the same weights (`tinybert quantize` for int8), with the same thread count and input shapes,
for a TinyBERT4 and a BERT-base shape (random init), at seq 32 and 128, batch 1 and 32, in
interleaved rounds. Prints the table with ratios (ONNX Runtime time / ours:
above 1 we are faster) and saves bench/results/onnx_race.{json,md} with the command and commit.

Usage: bench/bench_onnx.py [--bin build/tinybert] [--threads 2] [--rounds 2] [--seconds 3] [--bf16]
(--bf16 adds tinybert's bf16: fast with AVX-512 bf16 kernels, 25-50x slower than fp32 without them)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = {
    "TinyBERT4 (4L-312H-12A-1200I)": dict(hidden_size=312, num_hidden_layers=4, num_attention_heads=12,
                                          intermediate_size=1200),
    "BERT-base (12L-768H-12A-3072I)": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                           intermediate_size=3072),
}


def sh(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return r.stdout


def ours(args, model, seq, dtype, tmp):
    out = os.path.join(tmp, "bench.json")
    sh([args.bin, "bench", "--model", model, "--seq", str(seq), "--batch", "1", "32", "--dtype", dtype,
        "--threads", str(args.threads), "--seconds", str(args.seconds), "--json", out])
    with open(out) as f:
        return {r["batch"]: r["p50_ms"] for r in json.load(f)["results"]}


def ort(args, onnx, seq):
    lines = sh(["node", os.path.join(ROOT, "bench", "onnx_bench.js"), args.ort, onnx, str(seq), str(args.threads),
                str(args.seconds), "1", "32"])
    return {r["batch"]: r["p50_ms"] for r in map(json.loads, lines.split("\n")[:-1])}


RUNTIMES = {  # key: (label, what it runs)
    "fp32": "tinybert fp32", "ort": "ORT fp32", "int8": "tinybert int8", "ort_int8": "ORT int8", "bf16": "tinybert bf16"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "tinybert"))
    ap.add_argument("--ort", default=os.path.join(ROOT, "build", "npm", "node_modules", "onnxruntime-node"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()
    commit = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).strip()
    rows = []
    keys = [k for k in RUNTIMES if k != "bf16" or args.bf16]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TMPDIR"] = tmp  # ONNX Runtime leaves an empty mat-debug-PID.log there per process
        for name, shape in SHAPES.items():
            cfg = dict(vocab_size=30522, hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2, **shape)
            cfg_path, model, exported, q, q_exported = (
                os.path.join(tmp, p) for p in ("config.json", "model", "onnx", "int8", "int8-onnx"))
            with open(cfg_path, "w") as f:
                json.dump(cfg, f)
            sh([args.bin, "init", "--model-config", cfg_path, "--vocab", os.path.join(ROOT, "tests", "fixtures",
                "hf", "vocab.txt"), "--output", model, "--labels", "negative,positive"])
            sh([args.bin, "export", "--model", model, "--output", exported])
            sh([args.bin, "quantize", "--model", model, "--output", q])
            sh([args.bin, "export", "--model", q, "--output", q_exported])
            for seq in (32, 128):
                runs = {"fp32": lambda: ours(args, model, seq, "fp32", tmp),
                        "ort": lambda: ort(args, os.path.join(exported, "model.onnx"), seq),
                        "int8": lambda: ours(args, q, seq, "fp32", tmp),
                        "ort_int8": lambda: ort(args, os.path.join(q_exported, "model.onnx"), seq),
                        "bf16": lambda: ours(args, model, seq, "bf16", tmp)}
                times = {k: {1: [], 32: []} for k in keys}
                for _ in range(args.rounds):  # interleaved: each runtime once per round
                    for key in keys:
                        for b, ms in runs[key]().items():
                            times[key][b].append(ms)
                for b in (1, 32):
                    best = {k: min(v[b]) for k, v in times.items()}
                    best.setdefault("bf16", float("nan"))
                    mid = {k: statistics.median(v[b]) for k, v in times.items()}
                    row = dict(model=name, seq=seq, batch=b, **{k + "_ms": v for k, v in best.items()},
                               fp32_vs_ort=best["ort"] / best["fp32"], int8_vs_ort_int8=best["ort_int8"] / best["int8"],
                               int8_vs_fp32=best["fp32"] / best["int8"], int8_vs_bf16=best["bf16"] / best["int8"],
                               int8_vs_bf16_median=mid.get("bf16", float("nan")) / mid["int8"],
                               rounds={k: v[b] for k, v in times.items()})
                    rows.append(row)
                    print(f"{name} seq {seq} batch {b}: " + ", ".join(f"{RUNTIMES[k]} {best[k]:.2f} ms" for k in keys) +
                          f"; ORT/ours fp32 {row['fp32_vs_ort']:.2f}x, int8 {row['int8_vs_ort_int8']:.2f}x;"
                          f" our int8 vs fp32 {row['int8_vs_fp32']:.2f}x", flush=True)
    core = os.environ.get("OPENBLAS_CORETYPE")  # OpenBLAS's kernels: it decides our fp32 path
    command = ("OPENBLAS_CORETYPE=%s " % core if core else "") + "python3 bench/bench_onnx.py " + " ".join(sys.argv[1:])
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "")
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "?"
    isa += " VNNI" if "avx512_vnni" in flags or "avx_vnni" in flags else ", no VNNI"
    res = os.path.join(ROOT, "bench", "results")
    with open(os.path.join(res, "onnx_race.json"), "w") as f:
        json.dump(dict(command=command, commit=commit, cpu=cpu, isa=isa, threads=args.threads, rows=rows), f, indent=1)
    with open(os.path.join(res, "onnx_race.md"), "w") as f:
        f.write(f"# tinybert vs ONNX Runtime 1.30 (CPU), same weights and shapes\n\n"
                f"`{command}` at git {commit}; {cpu} ({isa}), {args.threads} threads each, best p50 of "
                f"{args.rounds} interleaved rounds (random init, full-length inputs, no padding). Ratios: "
                f"ONNX Runtime's time / ours (above 1: we are faster); int8 on both sides is the model "
                f"`tinybert quantize` wrote, exported as QuantizeLinear + MatMulInteger.\n\n"
                "| model | seq | batch | " + " | ".join(RUNTIMES[k] + " ms" for k in keys) +
                " | fp32 ratio | int8 ratio | our int8 / fp32 speed-up |" +
                (" our int8 / bf16 speed-up, best (median) |" if args.bf16 else "") +
                "\n|" + "---|" * (len(keys) + 6 + args.bf16) + "\n")
        for r in rows:
            f.write(f"| {r['model']} | {r['seq']} | {r['batch']} | " + " | ".join(f"{r[k + '_ms']:.2f}" for k in keys) +
                    f" | {r['fp32_vs_ort']:.2f}x | {r['int8_vs_ort_int8']:.2f}x | {r['int8_vs_fp32']:.2f}x |" +
                    (f" {r['int8_vs_bf16']:.2f}x ({r['int8_vs_bf16_median']:.2f}x) |" if args.bf16 else "") + "\n")
    print("wrote bench/results/onnx_race.md and .json")


if __name__ == "__main__":
    main()
