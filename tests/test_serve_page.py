#!/usr/bin/python3
"""Browser test of the page `tinybert serve` serves at GET /: headless Chromium (Debian's, driven by
playwright-core) types a sentence, clicks Predict and must show the label the API gives, one bar
per class and the latency; the same for a pair. The screenshot is kept as serve_page.png.

Usage: test_serve_page.py TINYBERT_BINARY FIXTURES_DIR PLAYWRIGHT_CORE_DIR
"""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server  # noqa: E402

BIN, FIX, PLAYWRIGHT = sys.argv[1], sys.argv[2], sys.argv[3]
HERE = os.path.dirname(os.path.abspath(__file__))


class Page(unittest.TestCase):
    def test_type_click_see_label(self):
        shot = os.path.abspath("serve_page.png")
        if os.path.exists(shot):
            os.remove(shot)
        with Server(BIN, os.path.join(FIX, "tiny-student-cls"), "--threads", "1") as srv:
            r = subprocess.run(["node", os.path.join(HERE, "serve_page.cjs"), PLAYWRIGHT, srv.url, shot],
                               capture_output=True, text=True, timeout=180)
            self.assertEqual(r.returncode, 0, r.stderr)
            page = json.loads(r.stdout)
            _, api = srv.json("POST", "/v1/predict", {"inputs": ["the cat sat on the mat ."]})
            _, api_pair = srv.json("POST", "/v1/predict", {"inputs": [["Is it raining?", "Yes, it is."]]})
        print("\npage showed:", page)
        self.assertIn("tiny-student-cls", page["model"])
        self.assertEqual(page["label"], api["predictions"][0]["label"])
        self.assertEqual(page["bars"], ["LABEL_0", "LABEL_1", "LABEL_2"])
        self.assertRegex(page["latency"], r"^\d+\.\d ms$")
        self.assertEqual(page["pair_label"], api_pair["predictions"][0]["label"])
        self.assertEqual(page["offsite"], [])
        self.assertEqual(page["console_errors"], [])
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        print("screenshot:", shot)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
