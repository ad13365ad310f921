#!/usr/bin/python3
"""Black-box tests of tinybert augment: every input format, row structure (original first, no
duplicates, labels intact, consistent pairs), determinism, resume after a kill, and bad input.

Usage: test_augment_cli.py TINYBERT_BINARY FIXTURES_DIR
"""
import difflib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BIN, FIX = sys.argv[1], sys.argv[2]
MLM = os.path.join(FIX, "tiny-mlm")
TMP = tempfile.mkdtemp(prefix="tinybert-aug-")
SENTENCES = ["The jury praised the city's handling of the election.", "It was a fair vote.",
             "Free money is waiting for you today.", "Scientists discovered unbelievably small particles.",
             "My grandmother bakes wonderful bread every Sunday.", "The river flooded the quiet village."]


def run(args, check=True):
    r = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=600)
    if check and r.returncode != 0:
        raise AssertionError(f"tinybert {' '.join(args)} failed:\n{r.stderr}")
    return r


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def similarity(a, b):
    return difflib.SequenceMatcher(None, a.split(), b.split()).ratio()


def closest(text, candidates):
    return max(candidates, key=lambda c: similarity(text, c))


class Augment(unittest.TestCase):
    def check_structure(self, rows, originals):
        """rows: [(texts tuple, label)], originals: same for the input. Each original comes first, then
        its variants: same label, no duplicates, and every column closest to its own original's."""
        self.assertEqual(rows[0], originals[0], "the original row comes first")
        group, current = [], None
        for r in rows:
            if r in originals and r != current:
                self.assertEqual(len(group), len(set(group)), "no duplicate rows")
                self.assertEqual(r, originals[originals.index(r)])
                current, group = r, [r]
                continue
            group.append(r)
            self.assertEqual(r[1], current[1], "labels copied")
            for col in range(len(r[0])):
                column = [o[0][col] for o in originals]
                self.assertEqual(closest(r[0][col], column), current[0][col], f"column {col} of {r} pairs with {current}")
        self.assertEqual(len(group), len(set(group)), "no duplicate rows")
        self.assertEqual([r for r in rows if r in originals], originals, "every original, in order")

    def test_generic_tsv(self):
        src = write("g.tsv", "text\tlabel\n" + "".join(f"{s}\t{i % 2}\n" for i, s in enumerate(SENTENCES)))
        out = os.path.join(TMP, "g.aug.tsv")
        r = run(["augment", "--model", MLM, "--task", "generic", "--input", src, "--output", out, "--n-aug", "8"])
        lines = read_lines(out)
        self.assertEqual(lines[0], "text\tlabel")
        rows = [((l.split("\t")[0],), l.split("\t")[1]) for l in lines[1:]]
        self.check_structure(rows, [((s,), str(i % 2)) for i, s in enumerate(SENTENCES)])
        self.assertGreater(len(rows), len(SENTENCES) * 3)
        self.assertIn("MLM forward passes", r.stderr)
        self.assertFalse(os.path.exists(out + ".partial"))

    def test_pairs_jsonl_stay_consistent(self):
        pairs = [(SENTENCES[i], SENTENCES[(i + 1) % len(SENTENCES)]) for i in range(len(SENTENCES))]
        src = write("p.jsonl", "".join(json.dumps({"text": a, "text_pair": b, "label": "x" if i % 2 else "y"}) + "\n"
                                       for i, (a, b) in enumerate(pairs)))
        out = os.path.join(TMP, "p.aug.jsonl")
        run(["augment", "--model", MLM, "--task", "generic", "--input", src, "--output", out, "--n-aug", "8"])
        rows = []
        for l in read_lines(out):
            j = json.loads(l)
            rows.append(((j["text"], j["text_pair"]), j["label"]))
        self.check_structure(rows, [((a, b), "x" if i % 2 else "y") for i, (a, b) in enumerate(pairs)])

    def test_glue_mnli_keeps_other_columns(self):
        hdr = "index\tpromptID\tpairID\tgenre\ts1b\ts2b\ts1p\ts2p\tsentence1\tsentence2\tlabel1\tgold_label"
        body = "".join(f"{i}\t{i}\t{i}e\tfiction\tx\tx\tx\tx\t{SENTENCES[i]}\t{SENTENCES[i - 1]}\tneutral\tneutral\n"
                       for i in range(len(SENTENCES)))
        src = write("train.tsv", hdr + "\n" + body)
        out = os.path.join(TMP, "mnli.aug.tsv")
        run(["augment", "--model", MLM, "--task", "mnli", "--input", src, "--output", out, "--n-aug", "6"])
        lines = read_lines(out)
        self.assertEqual(lines[0], hdr)
        for l in lines[1:]:
            cols = l.split("\t")
            self.assertEqual(len(cols), 12)
            self.assertEqual(cols[10:], ["neutral", "neutral"])
            i = int(cols[0])
            self.assertEqual(closest(cols[8], SENTENCES), SENTENCES[i])
            self.assertEqual(closest(cols[9], SENTENCES), SENTENCES[i - 1])

    def test_same_seed_same_file_whatever_chunking_and_threads(self):
        src = write("d.tsv", "text\tlabel\n" + "".join(f"{s}\t0\n" for s in SENTENCES * 3))
        outs = []
        for extra in (["--chunk-rows", "256", "--threads", "2"], ["--chunk-rows", "1", "--threads", "1"]):
            out = os.path.join(TMP, f"d{len(outs)}.tsv")
            run(["augment", "--model", MLM, "--task", "generic", "--input", src, "--output", out, "--seed", "3"] + extra)
            outs.append(read_lines(out))
        self.assertEqual(outs[0], outs[1])
        out = os.path.join(TMP, "d-other-seed.tsv")
        run(["augment", "--model", MLM, "--task", "generic", "--input", src, "--output", out, "--seed", "4"])
        self.assertNotEqual(read_lines(out), outs[0])

    def test_resume_after_kill_gives_the_same_file(self):
        src = write("big.tsv", "text\tlabel\n" + "".join(f"{s} {i}\t0\n" for i in range(150) for s in SENTENCES))
        full = os.path.join(TMP, "big.full.tsv")
        args = ["augment", "--model", MLM, "--task", "generic", "--input", src, "--chunk-rows", "20", "--n-aug", "10"]
        run(args + ["--output", full])
        out = os.path.join(TMP, "big.resumed.tsv")
        p = subprocess.Popen([BIN] + args + ["--output", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and not os.path.exists(out + ".progress") and p.poll() is None:
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        p.wait()
        interrupted = os.path.exists(out + ".progress")
        self.assertFalse(os.path.exists(out) and interrupted)
        if interrupted:
            with open(out + ".progress") as f:
                print(f"killed after row {json.load(f)['rows']} of 900")
        r = run(args + ["--output", out, "--resume"])
        if interrupted:
            self.assertIn("resuming after row", r.stderr)
        self.assertEqual(read_lines(out), read_lines(full))

    def test_bad_input(self):
        src = write("bad.tsv", "text\tlabel\nfine row\t1\nno label column\n")
        r = run(["augment", "--model", MLM, "--task", "generic", "--input", src, "--output", os.path.join(TMP, "x")],
                check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("bad.tsv line 3: 1 tab-separated columns, expected at least 2", r.stderr)
        src = write("empty.tsv", "text\tlabel\n \t1\n")
        r = run(["augment", "--model", MLM, "--task", "generic", "--input", src, "--output", os.path.join(TMP, "y")],
                check=False)
        self.assertIn("empty.tsv line 2: empty text", r.stderr)
        glove = write("glove.txt", "cat 1 2 3\ndog 1 2\n")
        src = write("ok.tsv", "text\tlabel\nunbelievably good\t1\n")
        r = run(["augment", "--model", MLM, "--task", "generic", "--input", src, "--output", os.path.join(TMP, "z"),
                 "--glove", glove], check=False)
        self.assertIn("glove.txt line 2: 2 values for \"dog\", expected 3", r.stderr)
        r = run(["augment", "--model", os.path.join(FIX, "tiny-teacher-cls"), "--task", "generic", "--input", src,
                 "--output", os.path.join(TMP, "w")], check=False)
        self.assertIn("needs a masked-LM model", r.stderr)

    def test_glove_neighbours_for_multi_piece_words(self):
        glove = write("g2.txt", "unbelievably 1 0\nincredibly 0.9 0.1\namazingly 0.8 0.2\nbanana 0 1\n")
        src = write("gl.tsv", "text\tlabel\nunbelievably good\t1\n")
        out = os.path.join(TMP, "gl.aug.tsv")
        run(["augment", "--model", MLM, "--task", "generic", "--input", src, "--output", out, "--glove", glove,
             "--k", "2", "--p", "1.0", "--n-aug", "10"])
        firsts = {l.split("\t")[0].split()[0] for l in read_lines(out)[2:]}
        self.assertLessEqual(firsts, {"incredibly", "amazingly"})
        self.assertTrue(firsts)


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
