#!/usr/bin/env python3
"""The race against ONNX Runtime: `tinybert bench` (fp32 and bf16) and ONNX Runtime (fp32, CPU,
onnxruntime-node) on the model `tinybert export` wrote from the same weights, with the same
thread count and input shapes, for a TinyBERT4 and a BERT-base shape (random init), at seq 32 and
128, batch 1 and 32, in interleaved rounds. Prints the table with ratios (ONNX Runtime time / ours:
above 1 we are faster) and saves bench/results/onnx_race.{json,md} with the command and commit.

Usage: bench/bench_onnx.py [--bin build/tinybert] [--threads 2] [--rounds 2] [--seconds 3] [--bf16]
(--bf16 adds tinybert's bf16: fast with AVX-512 bf16 kernels, 25-50x slower than fp32 without them)
"""
import argparse
import json
import os
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
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape in SHAPES.items():
            cfg = dict(vocab_size=30522, hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2, **shape)
            cfg_path, model, exported = (os.path.join(tmp, p) for p in ("config.json", "model", "onnx"))
            with open(cfg_path, "w") as f:
                json.dump(cfg, f)
            sh([args.bin, "init", "--model-config", cfg_path, "--vocab", os.path.join(ROOT, "tests", "fixtures",
                "hf", "vocab.txt"), "--output", model, "--labels", "negative,positive"])
            sh([args.bin, "export", "--model", model, "--output", exported])
            for seq in (32, 128):
                runs = [("fp32", lambda: ours(args, model, seq, "fp32", tmp)),
                        ("ort", lambda: ort(args, os.path.join(exported, "model.onnx"), seq))]
                if args.bf16:
                    runs.append(("bf16", lambda: ours(args, model, seq, "bf16", tmp)))
                times = {k: {1: [], 32: []} for k, _ in runs}
                for _ in range(args.rounds):  # interleaved: each runtime once per round
                    for key, run in runs:
                        for b, ms in run().items():
                            times[key][b].append(ms)
                for b in (1, 32):
                    best = {k: min(v[b]) for k, v in times.items()}
                    best.setdefault("bf16", float("nan"))
                    row = dict(model=name, seq=seq, batch=b, fp32_ms=best["fp32"], bf16_ms=best["bf16"],
                               ort_fp32_ms=best["ort"], fp32_vs_ort=best["ort"] / best["fp32"],
                               bf16_vs_ort=best["ort"] / best["bf16"], rounds={k: v[b] for k, v in times.items()})
                    rows.append(row)
                    print(f"{name} seq {seq} batch {b}: tinybert fp32 {best['fp32']:.2f} ms, bf16 {best['bf16']:.2f} ms,"
                          f" ONNX Runtime fp32 {best['ort']:.2f} ms; ratio ORT/ours fp32 {row['fp32_vs_ort']:.2f}x,"
                          f" bf16 {row['bf16_vs_ort']:.2f}x", flush=True)
    command = "python3 bench/bench_onnx.py " + " ".join(sys.argv[1:])
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "")
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "?"
    res = os.path.join(ROOT, "bench", "results")
    with open(os.path.join(res, "onnx_race.json"), "w") as f:
        json.dump(dict(command=command, commit=commit, cpu=cpu, isa=isa, threads=args.threads, rows=rows), f, indent=1)
    with open(os.path.join(res, "onnx_race.md"), "w") as f:
        f.write(f"# tinybert vs ONNX Runtime 1.30 (CPU, fp32), same weights and shapes\n\n"
                f"`{command}` at git {commit}; {cpu} ({isa}), {args.threads} threads each, best p50 of "
                f"{args.rounds} interleaved rounds (random init, full-length inputs, no padding). Ratio: ONNX "
                f"Runtime's time / ours (above 1: we are faster).\n\n"
                "| model | seq | batch | tinybert fp32 ms | tinybert bf16 ms | ORT fp32 ms | fp32 ratio | bf16 ratio |\n"
                "|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['model']} | {r['seq']} | {r['batch']} | {r['fp32_ms']:.2f} | {r['bf16_ms']:.2f} | "
                    f"{r['ort_fp32_ms']:.2f} | {r['fp32_vs_ort']:.2f}x | {r['bf16_vs_ort']:.2f}x |\n")
    print(f"wrote bench/results/onnx_race.md and .json")


if __name__ == "__main__":
    main()
