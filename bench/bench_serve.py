#!/usr/bin/python3
"""HTTP load test of `tinybert serve` with wrk on loopback, against the same model's in-process
`tinybert bench` figures and the Python PyTorch baseline (bench/inference_baseline.py), all in
this run. Model: a TinyBERT4-shaped classifier (bench/tinybert4.json, random init via
`tinybert init`) unless --model is given. Inputs are truncated to --seq tokens, so every request
is one full-length sequence.

Usage: bench/bench_serve.py [--bin build/tinybert] [--dtype fp32] [--seconds 10]
                            [--clients 1,8,64] [--out bench/results/serve]
Writes OUT.md and OUT.json (with the command and git revision)."""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from serve_util import Server  # noqa: E402

TEXT = ("The committee said on Tuesday that the new rules would take effect next year , after "
        "months of debate over how the city should pay for its schools , roads and parks . ") * 8


def wrk(url, clients, seconds, body_file):
    r = subprocess.run(["wrk", "-t", "1", "-c", str(clients), "-d", "%ds" % seconds, "--timeout", "60s",
                        "--latency", "-s", body_file, url + "/v1/predict"],
                       capture_output=True, text=True, check=True)
    out = r.stdout
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}

    def pct(p):
        m = re.search(r"^\s+%d%%\s+([\d.]+)(us|ms|s)\s*$" % p, out, re.M)
        return float(m.group(1)) * unit[m.group(2)]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"clients": clients,
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": pct(50), "p99_ms": pct(99),
            "failed": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0),
            "wrk_output": out}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "tinybert"))
    ap.add_argument("--model", help="a BertForSequenceClassification directory (default: TinyBERT4 shape)")
    ap.add_argument("--dtype", default="fp32")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", default="1,8,64")
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "serve"))
    a = ap.parse_args()
    command = "bench/bench_serve.py " + " ".join(sys.argv[1:])
    tmp = tempfile.mkdtemp(prefix="bench_serve_")
    model, config = a.model, os.path.join(HERE, "tinybert4.json")
    if not model:
        model = os.path.join(tmp, "tinybert4")
        subprocess.run([a.bin, "init", "--model-config", config, "--vocab",
                        os.path.join(ROOT, "tests", "fixtures", "hf", "vocab.txt"), "--output", model],
                       check=True, capture_output=True)
    else:
        config = os.path.join(model, "config.json")

    print("in-process: tinybert bench --batch 1,32 --seq %d --dtype %s" % (a.seq, a.dtype), flush=True)
    bench_json = os.path.join(tmp, "bench.json")
    r = subprocess.run([a.bin, "bench", "--model", model, "--batch", "1,32", "--seq", str(a.seq), "--dtype", a.dtype,
                        "--seconds", "5", "--json", bench_json], check=True, capture_output=True, text=True)
    runtime = next((l for l in (r.stdout + r.stderr).splitlines() if l.startswith("tinybert: LibTorch")), "?")
    with open(bench_json) as f:
        inproc = {r["batch"]: r for r in json.load(f)["results"]}
    print("python: bench/inference_baseline.py", flush=True)
    py = json.loads(subprocess.run(["/usr/bin/python3", os.path.join(HERE, "inference_baseline.py"),
                                    "--config", config, "--seq", str(a.seq), "--seconds", "5"],
                                   check=True, capture_output=True, text=True).stdout)
    python = {r["batch"]: r for r in py["results"]}

    body_file = os.path.join(tmp, "post.lua")
    with open(body_file, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n'
                % json.dumps(json.dumps({"inputs": TEXT})))
    loads = []
    with Server(a.bin, model, "--max-length", str(a.seq), "--dtype", a.dtype,
                "--max-batch", str(a.max_batch), "--max-queue", "1024") as srv:
        _, check = srv.json("POST", "/v1/predict", {"inputs": TEXT})
        assert "predictions" in check, check
        for c in map(int, a.clients.split(",")):
            print("wrk -c %d -d %ds" % (c, a.seconds), flush=True)
            before = srv.metrics()
            loads.append(wrk(srv.url, c, a.seconds, body_file))
            time.sleep(2)  # requests wrk left in flight are answered
            after = srv.metrics()
            rows, runs = (after[k] - before[k] for k in ("tinybert_batch_size_sum", "tinybert_batch_size_count"))
            loads[-1]["mean_batch"] = rows / runs if runs else 0
        health = srv.json("GET", "/health")[0]

    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    result = {"command": command, "git": rev, "date": time.strftime("%Y-%m-%d %H:%M"), "dtype": a.dtype,
              "seq": a.seq, "model": "TinyBERT4 shape (4L-312H-12A-1200I), random init" if not a.model else a.model,
              "runtime": runtime, "in_process": inproc, "python": python, "http": loads,
              "health_after": health}
    lines = ["# `tinybert serve` under HTTP load (wrk on loopback)", "",
             "Command: `%s` (git %s, %s). Model: %s, %s, seq %d; server `--max-batch %d`; wrk with one "
             "thread on the same 2 cores as the server." % (command, rev, result["date"], result["model"], a.dtype,
                                                            a.seq, a.max_batch), "",
             "Runtime: `%s`." % runtime, "",
             "| | clients | requests/s | p50 ms | p99 ms | failed | rows per forward |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for l in loads:
        lines.append("| HTTP (wrk) | %d | %.1f | %.1f | %.1f | %d | %.1f |" % (
            l["clients"], l["requests_per_s"], l["p50_ms"], l["p99_ms"], l["failed"], l["mean_batch"]))
    for b in (1, 32):
        lines.append("| in-process `tinybert bench`, batch %d | - | %.1f | %.1f | - | - | %d |"
                     % (b, inproc[b]["sequences_per_s"], inproc[b]["p50_ms"], b))
    for b in (1, 32):
        lines.append("| Python PyTorch %s, batch %d (fp32) | - | %.1f | %.1f | - | - | %d |"
                     % (py["torch"], b, python[b]["sequences_per_s"], python[b]["p50_ms"], b))
    c1 = next((l for l in loads if l["clients"] == 1), None)
    cmax = max(loads, key=lambda l: l["clients"])
    lines += ["", "- /health after the load: %d." % health]
    if c1:
        lines.append("- HTTP overhead at 1 client: p50 %.1f ms vs %.1f ms in-process at batch 1 (%.2fx)."
                     % (c1["p50_ms"], inproc[1]["p50_ms"], c1["p50_ms"] / inproc[1]["p50_ms"]))
    lines.append("- Throughput at %d clients: %.1f requests/s = %.2fx the in-process batch-32 figure (%.1f seq/s)."
                 % (cmax["clients"], cmax["requests_per_s"], cmax["requests_per_s"] / inproc[32]["sequences_per_s"],
                    inproc[32]["sequences_per_s"]))
    lines.append("- vs Python PyTorch: batch-1 latency %.2fx lower, batch-32 throughput %.2fx higher (in-process)."
                 % (python[1]["p50_ms"] / inproc[1]["p50_ms"], inproc[32]["sequences_per_s"] / python[32]["sequences_per_s"]))
    if a.dtype == "fp32":
        v = inproc[32]["sequences_per_s"]
        lines.append("- Target batch-32 throughput >= 130 seq/s in fp32: %.1f, %s." % (v, "met" if v >= 130 else "MISSED"))
    v = inproc[1]["p50_ms"]
    lines.append("- Target batch-1 latency <= 6 ms: %.1f ms in %s, %s." % (v, a.dtype, "met" if v <= 6 else "MISSED"))
    md = "\n".join(lines) + "\n"
    print(md)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out + ".md", "w") as f:
        f.write(md)
    with open(a.out + ".json", "w") as f:
        json.dump(result, f, indent=1)
    failed = sum(l["failed"] for l in loads)
    if failed:
        print("FAILED REQUESTS: %d" % failed)
        sys.exit(1)


if __name__ == "__main__":
    main()
