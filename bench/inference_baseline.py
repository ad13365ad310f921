#!/usr/bin/python3
"""Baseline for the inference benchmarks: the same BERT shape in Python PyTorch (torch.nn, HF's
layout, eval mode, torch.inference_mode, fp32), timed as `tinybert bench` times itself: full-length
random inputs, p50 over a few seconds per batch size. Prints one JSON object."""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from distill_step_baseline import Bert  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="config.json of the model")
    ap.add_argument("--batch", default="1,32")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with open(a.config) as f:
        c = json.load(f)
    model = Bert(c["num_hidden_layers"], c["hidden_size"], c["intermediate_size"], c["num_attention_heads"],
                 c["vocab_size"], len(c.get("id2label", {"0": 0, "1": 1}))).eval()
    out = {"torch": torch.__version__, "threads": a.threads, "seq": a.seq, "results": []}
    with torch.inference_mode():
        for b in map(int, a.batch.split(",")):
            ids = torch.randint(1000, c["vocab_size"], (b, a.seq))
            types, mask = torch.zeros_like(ids), torch.ones_like(ids)
            for _ in range(3):
                model(ids, types, mask)
            times, start = [], time.perf_counter()
            while len(times) < 5 or time.perf_counter() - start < a.seconds:
                t0 = time.perf_counter()
                model(ids, types, mask)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            p50 = times[len(times) // 2]
            out["results"].append({"batch": b, "p50_ms": p50, "sequences_per_s": b * 1000 / p50})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
