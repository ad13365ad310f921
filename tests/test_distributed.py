#!/usr/bin/env python3
"""Data-parallel training on c10d (Gloo, loopback): ranks started with torchrun's environment, by
`--nproc-per-node`, or by two launchers as two nodes, agree with one process on the same global
batches; a lost rank fails the others within the timeout, naming it; a stopped 2-rank run
resumes to the same weights, and so does a group the launcher restarts; 2-rank augmentation
writes the file one process writes.

Usage: test_distributed.py TINYBERT_BINARY FIXTURES_DIR
"""
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np

BIN, FIX = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="tinybert-dist-")
WORDS = ("good bad film story actor music long short happy sad great poor fine dull bright dark "
         "fast slow warm cold").split()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, rank=None, world=None, port=None):
    """tinybert with torchrun's variables for `rank` of `world` (None: one plain process)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if rank is not None:
        env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                   GROUP_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    return subprocess.Popen([BIN] + args + ["--threads", "1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def run_ranks(args, world, timeout=300):
    """Runs `world` ranks as torchrun would start them; [(returncode, stderr)] in rank order."""
    port = free_port()
    procs = [start(args, r, world, port) for r in range(world)]
    out = []
    for p in procs:
        _, err = p.communicate(timeout=timeout)
        out.append((p.returncode, err))
    return out


def children(pid):
    """Process ids whose parent is `pid` (from /proc: no procps needed)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def run_one(args, timeout=300):
    p = start(args)
    _, err = p.communicate(timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"tinybert {' '.join(args)} failed:\n{err}")
    return err


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        assert info["dtype"] == "F32", info
        out[name] = np.frombuffer(data[a:b], dtype=np.float32).reshape(info["shape"])
    return out


def losses(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        rows = [json.loads(l) for l in f if l.strip()]
    return [(r["step"], r["loss"]) for r in rows if "loss" in r]


def no_dropout(src, name):
    """A copy of a fixture model with dropout off (the equivalence needs the same masks: none)."""
    dst = os.path.join(TMP, name)
    shutil.copytree(src, dst)
    with open(os.path.join(dst, "config.json")) as f:
        c = json.load(f)
    c["hidden_dropout_prob"] = c["attention_probs_dropout_prob"] = 0.0
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(c, f)
    return dst


def write_task(name, rows, seed):
    rng = random.Random(seed)
    d = os.path.join(TMP, name)
    os.makedirs(d)
    for split, n in (("train", rows), ("dev", 16)):
        with open(os.path.join(d, split + ".tsv"), "w") as f:
            f.write("text\tlabel\n")
            for _ in range(n):
                words = rng.sample(WORDS, rng.randint(3, 9))
                label = "abc"[(WORDS.index(words[0]) + len(words)) % 3]
                f.write(" ".join(words) + "\t" + label + "\n")
    return d


def write_corpus(name, seed):
    rng = random.Random(seed)
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        for _ in range(12):
            for _ in range(6):
                f.write(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))) + ".\n")
            f.write("\n")
    return path


TEACHER = no_dropout(os.path.join(FIX, "tiny-teacher-cls"), "teacher")
STUDENT = no_dropout(os.path.join(FIX, "tiny-student-cls"), "student")
DATA = write_task("task", 64, 1)
CORPUS = write_corpus("corpus.txt", 2)
with open(os.path.join(STUDENT, "config.json")) as f:
    cfg = json.load(f)
STUDENT_CONFIG = os.path.join(TMP, "student_config.json")
with open(STUDENT_CONFIG, "w") as f:
    json.dump(cfg, f)

JOBS = {
    "finetune": ["finetune", "--model", STUDENT, "--task", "generic", "--data", DATA, "--epochs", "2",
                 "--lr", "1e-3", "--max-length", "16"],
    "intermediate": ["distill", "--stage", "intermediate", "--teacher", TEACHER, "--student", STUDENT,
                     "--task", "generic", "--data", DATA, "--epochs", "2", "--lr", "1e-3", "--max-length", "16"],
    "general": ["distill", "--stage", "general", "--teacher", TEACHER, "--student-config", STUDENT_CONFIG,
                "--corpus", CORPUS, "--epochs", "2", "--lr", "1e-3", "--max-length", "16"],
    # the teacher is the fine-tuned result of the first job (test_1 runs the jobs in this order)
    "prediction": ["distill", "--stage", "prediction", "--teacher", os.path.join(TMP, "finetune-1x16", "best"),
                   "--student", STUDENT, "--task", "generic", "--data", DATA, "--epochs", "2", "--lr", "1e-3",
                   "--max-length", "16", "--eval-batch-size", "8"],
}
COMMON = ["--log-every", "1", "--seed", "7", "--warmup", "0"]


def compare(test, one, two, label):
    a, b = losses(one), losses(two)
    test.assertEqual([s for s, _ in a], [s for s, _ in b])
    loss_rel = max(abs(x - y) / max(1e-12, abs(x)) for (_, x), (_, y) in zip(a, b))
    wa = load_safetensors(os.path.join(one, "best", "model.safetensors"))
    wb = load_safetensors(os.path.join(two, "best", "model.safetensors"))
    test.assertEqual(sorted(wa), sorted(wb))
    # per tensor: the largest difference against the tensor's scale (at least 1: a bias near 0
    # has no meaningful relative difference)
    w_rel = max(float(np.max(np.abs(wa[k] - wb[k]))) / max(1.0, float(np.max(np.abs(wa[k])))) for k in wa)
    print(f"{label}: {len(a)} steps, max relative difference: losses {loss_rel:.2e}, weights {w_rel:.2e}")
    test.assertLess(loss_rel, 1e-5)
    test.assertLess(w_rel, 1e-5)


class Distributed(unittest.TestCase):
    def test_1_two_ranks_equal_one_rank_with_twice_the_batch(self):
        for name, args in JOBS.items():
            one, two = os.path.join(TMP, name + "-1x16"), os.path.join(TMP, name + "-2x8")
            run_one(args + COMMON + ["--batch-size", "16", "--output", one])
            results = run_ranks(args + COMMON + ["--batch-size", "8", "--output", two], 2)
            for rank, (code, err) in enumerate(results):
                self.assertEqual(code, 0, f"rank {rank}:\n{err}")
            self.assertIn("effective batch 16 = 8 per rank x 2 ranks x 1 accumulated", results[0][1])
            with open(os.path.join(two, "run_config.json")) as f:
                saved = json.load(f)
            self.assertEqual((saved["world_size"], saved["effective_batch"]), (2, 16))
            compare(self, one, two, name)

    def test_2_launcher_runs_two_workers(self):
        out = os.path.join(TMP, "launched")
        r = subprocess.run([BIN] + JOBS["finetune"] + COMMON + ["--batch-size", "8", "--output", out,
                                                                 "--nproc-per-node", "2", "--threads", "1"],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("launcher: 2 workers", r.stderr)
        compare(self, os.path.join(TMP, "finetune-1x16"), out, "finetune --nproc-per-node 2")

    def test_3_a_lost_rank_fails_the_other_in_time(self):
        out = os.path.join(TMP, "lost")
        port = free_port()
        args = JOBS["finetune"][:] + ["--batch-size", "8", "--output", out, "--dist-timeout", "20"]
        args[args.index("--epochs") + 1] = "1000"
        procs = [start(args, r, 2, port) for r in range(2)]
        state = os.path.join(out, "last", "trainer_state.json")
        args_ok = False
        deadline = time.time() + 120
        while time.time() < deadline and not args_ok:
            args_ok = os.path.exists(os.path.join(out, "metrics.jsonl")) and os.path.getsize(
                os.path.join(out, "metrics.jsonl")) > 0
            time.sleep(0.2)
        self.assertTrue(args_ok, "the 2-rank run did not start")
        procs[1].kill()  # kill -9 of rank 1
        t0 = time.time()
        _, err = procs[0].communicate(timeout=120)
        procs[1].communicate()
        elapsed = time.time() - t0
        print(f"rank 0 exited {procs[0].returncode} {elapsed:.1f} s after rank 1 was killed")
        self.assertNotEqual(procs[0].returncode, 0)
        self.assertLess(elapsed, 60)
        self.assertIn("across ranks failed: lost rank 1 (its heartbeat stopped", err)

    def launch_long_run(self, name):
        """A 2-worker --nproc-per-node run of many epochs, once it has trained; (launcher, output)."""
        out = os.path.join(TMP, name)
        args = JOBS["finetune"][:] + ["--batch-size", "8", "--output", out, "--dist-timeout", "20",
                                      "--nproc-per-node", "2", "--threads", "1", "--log-every", "1"]
        args[args.index("--epochs") + 1] = "1000"
        p = subprocess.Popen([BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        metrics = os.path.join(out, "metrics.jsonl")
        deadline = time.time() + 120
        while time.time() < deadline and not (os.path.exists(metrics) and os.path.getsize(metrics) > 0):
            time.sleep(0.2)
        self.assertTrue(os.path.exists(metrics), "the launched run did not start")
        return p, out

    def test_3b_the_launcher_names_a_failed_worker_and_stops_the_rest(self):
        p, _ = self.launch_long_run("launched-kill")
        workers = children(p.pid)
        self.assertEqual(len(workers), 2)
        os.kill(sorted(workers)[1], 9)  # rank 1 (started second)
        _, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("launcher: rank 1 failed (signal 9", err)
        self.assertIn("error: rank 1 of 2 failed with signal 9", err)
        for w in workers:
            self.assertFalse(os.path.exists(f"/proc/{w}") and open(f"/proc/{w}/stat").read().split()[2] != "Z")

    def test_3c_sigterm_to_the_launcher_stops_every_rank_with_a_checkpoint(self):
        p, out = self.launch_long_run("launched-term")
        t0 = time.time()
        p.send_signal(15)
        _, err = p.communicate(timeout=120)
        print(f"SIGTERM to the launcher: exit {p.returncode} after {time.time() - t0:.1f} s")
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("stopped at step", err)
        with open(os.path.join(out, "last", "trainer_state.json")) as f:
            self.assertEqual(json.load(f)["world_size"], 2)

    def test_3d_two_launchers_as_two_nodes(self):
        out, port = os.path.join(TMP, "two-nodes"), free_port()
        args = JOBS["finetune"] + COMMON + ["--batch-size", "8", "--output", out, "--threads", "1", "--nnodes", "2",
                                            "--nproc-per-node", "1", "--master-port", str(port)]
        nodes = [subprocess.Popen([BIN] + args + ["--node-rank", str(n)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for n in (0, 1)]
        for n, p in enumerate(nodes):
            _, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, f"node {n}:\n{err}")
            self.assertIn(f"launcher: 1 workers (node {n} of 2)", err)
        compare(self, os.path.join(TMP, "finetune-1x16"), out, "finetune --nnodes 2")

    def test_3e_a_restarted_group_continues_from_its_checkpoint(self):
        args = JOBS["finetune"][:] + COMMON + ["--batch-size", "8", "--save-every", "5", "--threads", "1"]
        args[args.index("--epochs") + 1] = "15"
        whole, restarted = os.path.join(TMP, "whole-15"), os.path.join(TMP, "restarted")
        for code, err in run_ranks(args + ["--output", whole], 2):
            self.assertEqual(code, 0, err)
        p = subprocess.Popen([BIN] + args + ["--output", restarted, "--nproc-per-node", "2", "--max-restarts", "1",
                                             "--resume", "auto"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        state = os.path.join(restarted, "last", "trainer_state.json")
        deadline = time.time() + 120
        while time.time() < deadline and not os.path.exists(state):
            time.sleep(0.05)
        workers = children(p.pid)
        self.assertEqual(len(workers), 2)
        os.kill(sorted(workers)[1], 9)  # rank 1
        _, err = p.communicate(timeout=300)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("launcher: restarting the workers (restart 1 of 1)", err)
        self.assertIn("resuming at step", err)
        wa = load_safetensors(os.path.join(whole, "last", "model.safetensors"))
        wb = load_safetensors(os.path.join(restarted, "last", "model.safetensors"))
        diff = max(float(np.max(np.abs(wa[k] - wb[k]))) for k in wa)
        print(f"restarted 2-rank run vs uninterrupted: max weight difference {diff:.1e}")
        self.assertEqual(diff, 0.0)

    def test_5_two_ranks_augment_into_the_file_one_process_writes(self):
        mlm = os.path.join(FIX, "tiny-mlm")
        one, two = os.path.join(TMP, "aug-1.tsv"), os.path.join(TMP, "aug-2.tsv")
        args = ["augment", "--model", mlm, "--task", "generic", "--input", os.path.join(DATA, "train.tsv"),
                "--n-aug", "4", "--chunk-rows", "10"]
        run_one(args + ["--output", one])
        r = subprocess.run([BIN] + args + ["--output", two, "--nproc-per-node", "2", "--threads", "1"],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("merged 2 parts into", r.stderr)
        with open(one) as a, open(two) as b:
            self.assertEqual(a.read(), b.read())
        self.assertEqual([f for f in os.listdir(TMP) if f.startswith("aug-2.tsv.")], [])

    def test_4_stopped_run_resumes_to_the_same_weights(self):
        args = JOBS["finetune"] + COMMON + ["--batch-size", "8", "--save-every", "1"]
        whole, parts = os.path.join(TMP, "whole"), os.path.join(TMP, "parts")
        for code, err in run_ranks(args + ["--output", whole], 2):
            self.assertEqual(code, 0, err)
        for code, err in run_ranks(args + ["--output", parts, "--stop-after", "3"], 2):
            self.assertEqual(code, 0, err)
        results = run_ranks(args + ["--output", parts, "--resume"], 2)
        for code, err in results:
            self.assertEqual(code, 0, err)
        self.assertIn("resuming at step 3", results[0][1])
        wa = load_safetensors(os.path.join(whole, "last", "model.safetensors"))
        wb = load_safetensors(os.path.join(parts, "last", "model.safetensors"))
        diff = max(float(np.max(np.abs(wa[k] - wb[k]))) for k in wa)
        print(f"resumed 2-rank run vs uninterrupted: max weight difference {diff:.1e}")
        self.assertEqual(diff, 0.0)
        # another world size is refused, naming both
        r = run_ranks(args + ["--output", parts, "--resume", "--epochs", "3"], 1)
        self.assertIn("trained on 2 rank(s), this one has 1", r[0][1])


if __name__ == "__main__":
    try:
        unittest.main(argv=sys.argv[:1], verbosity=2)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
