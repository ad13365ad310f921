#!/usr/bin/python3
"""Black-box tests of `tinybert serve`: a real server process on a free loopback port, real HTTP
clients (http.client), every error case, concurrency, metrics, and the SIGTERM drain.

Usage: test_serve.py TINYBERT_BINARY FIXTURES_DIR
"""
import gzip
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, wait_port_closed  # noqa: E402

BIN, FIX = sys.argv[1], sys.argv[2]
MODEL = os.path.join(FIX, "tiny-student-cls")
LABELS = ["LABEL_0", "LABEL_1", "LABEL_2"]
TEXTS = ["the cat sat on the mat .", "Stocks fell sharply on Monday!", "hello", "a " * 40,
         "Ünïcödé façade, naïve café", "[MASK] is a special token", "one two three four five"]
PAIRS = [["Is it raining?", "Yes, it is."], ["first sentence", "second one, longer than the first"]]


def unbatched(inputs):
    """Scores from `tinybert predict --batch-size 1`: each input alone, no padding."""
    lines = "".join(json.dumps({"text": x} if isinstance(x, str) else {"text": x[0], "text_pair": x[1]})
                    + "\n" for x in inputs)
    r = subprocess.run([BIN, "predict", "--model", MODEL, "--batch-size", "1"], input=lines,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


class Serve(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(BIN, MODEL, "--threads", "1", "--max-inputs", "64", "--max-body-kib", "64")
        cls.reference = {json.dumps(x): r for x, r in zip(TEXTS + PAIRS, unbatched(TEXTS + PAIRS))}

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def check_predictions(self, inputs, predictions):
        self.assertEqual(len(predictions), len(inputs))
        worst = 0.0
        for x, p in zip(inputs, predictions):
            ref = self.reference[json.dumps(x)]
            self.assertEqual(p["label"], ref["label"])
            self.assertEqual(list(p["scores"]), LABELS)
            self.assertAlmostEqual(sum(p["scores"].values()), 1.0, places=5)
            self.assertEqual(p["score"], p["scores"][p["label"]])
            worst = max(worst, max(abs(a - b) for a, b in zip(p["scores"].values(), ref["scores"].values())))
        return worst

    def test_health_and_models(self):
        status, body = self.srv.json("GET", "/health")
        self.assertEqual((status, body["status"]), (200, "ok"))
        status, body = self.srv.json("GET", "/v1/models")
        self.assertEqual(status, 200)
        m = body["models"][0]
        self.assertEqual(m["name"], "tiny-student-cls")
        self.assertEqual(m["labels"], LABELS)
        self.assertEqual((m["num_hidden_layers"], m["hidden_size"], m["max_length"]), (2, 16, 128))
        self.assertGreater(m["parameters"], 400000)

    def test_single_batch_and_pairs_equal_unbatched(self):
        status, body = self.srv.json("POST", "/v1/predict", {"inputs": TEXTS[0]})
        self.assertEqual(status, 200, body)
        worst = self.check_predictions(TEXTS[:1], body["predictions"])
        status, body = self.srv.json("POST", "/v1/predict", {"inputs": TEXTS})
        self.assertEqual(status, 200, body)
        worst = max(worst, self.check_predictions(TEXTS, body["predictions"]))
        status, body = self.srv.json("POST", "/v1/predict", {"inputs": PAIRS + TEXTS[:2]})
        self.assertEqual(status, 200, body)
        worst = max(worst, self.check_predictions(PAIRS + TEXTS[:2], body["predictions"]))
        print("\nbatched vs unbatched (tinybert predict --batch-size 1): max |score diff| %.3g" % worst)
        self.assertLess(worst, 1e-5)

    def test_concurrent_clients_get_sequential_results(self):
        before = self.srv.metrics()
        jobs = [[TEXTS[i % len(TEXTS)], PAIRS[i % len(PAIRS)]] for i in range(48)]
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda j: self.srv.json("POST", "/v1/predict", {"inputs": j}), jobs))
        worst = 0.0
        for job, (status, body) in zip(jobs, results):
            self.assertEqual(status, 200, body)
            worst = max(worst, self.check_predictions(job, body["predictions"]))
        print("\n48 requests from 16 concurrent clients vs sequential: max |score diff| %.3g" % worst)
        self.assertLess(worst, 1e-5)
        after = self.srv.metrics()
        key = 'tinybert_requests_total{path="/v1/predict",status="200"}'
        self.assertEqual(after[key] - before.get(key, 0), 48)
        self.assertEqual(after["tinybert_inputs_total"] - before["tinybert_inputs_total"], 96)
        self.assertGreater(after["tinybert_batch_size_count"], before["tinybert_batch_size_count"])
        self.assertEqual(after["tinybert_request_duration_seconds_count"]
                         - before["tinybert_request_duration_seconds_count"], 49)  # + one /metrics
        self.assertEqual(after["tinybert_ready"], 1)
        self.assertEqual(after["tinybert_queue_depth"], 0)
        self.assertEqual(after["tinybert_running_requests"], 0)
        self.assertEqual(self.srv.json("GET", "/health")[0], 200)

    def expect_error(self, body, status, type_, contains="", raw=False, path="/v1/predict"):
        if raw:
            st, _, data = self.srv.request("POST", path, body, {"Content-Type": "application/json"})
        else:
            st, _, data = self.srv.request("POST", path, body)
        err = json.loads(data)
        self.assertEqual((st, err.get("type")), (status, type_), err)
        self.assertIn(contains, err["error"])
        return err

    def test_errors_are_json_with_4xx_and_server_keeps_serving(self):
        before = self.srv.metrics()
        self.expect_error(b'{"inputs": ["a", }', 400, "invalid_json", "not valid JSON", raw=True)
        self.expect_error(b'{"inputs": "caf\xc3"}', 400, "invalid_utf8", "byte 15", raw=True)
        self.expect_error(b'{"inputs": "\xff\xfe"}', 400, "invalid_utf8", "byte 12", raw=True)
        self.expect_error(b"", 400, "invalid_json", raw=True)
        self.expect_error({"text": "x"}, 422, "invalid_request", '"inputs"')
        self.expect_error([1, 2], 422, "invalid_request", '"inputs"')
        self.expect_error({"inputs": 3}, 422, "invalid_request", "got a number")
        self.expect_error({"inputs": []}, 422, "invalid_request", "empty list")
        self.expect_error({"inputs": ""}, 422, "invalid_request", "empty string")
        self.expect_error({"inputs": ["ok", None]}, 422, "invalid_request", "inputs[1] must be a string, got null")
        self.expect_error({"inputs": [["a", "b", "c"]]}, 422, "invalid_request", "inputs[0] must be a [text, text_pair]")
        self.expect_error({"inputs": [["a", 5]]}, 422, "invalid_request", "inputs[0][1] must be a string")
        self.expect_error({"inputs": "x", "truncate": "no"}, 422, "invalid_request", '"truncate"')
        self.expect_error({"inputs": "x", "tokens": True}, 422, "invalid_request",
                          '"tokens" is for token_classification models; this one is classification')
        self.assertEqual(self.srv.json("POST", "/v1/predict", {"inputs": "x", "tokens": False})[0], 200)
        err = self.expect_error({"inputs": ["short", "word " * 200], "truncate": False}, 422, "input_too_long",
                                "inputs[1]")
        self.assertEqual((err["index"], err["tokens"], err["max_length"]), (1, 202, 128))
        self.expect_error({"inputs": ["x"] * 65}, 413, "too_many_inputs", "65 items; the limit is 64")
        self.expect_error({"inputs": "y" * 70000}, 413, "payload_too_large")
        st, body = self.srv.json("GET", "/nowhere")
        self.assertEqual((st, body["type"]), (404, "not_found"))
        st, headers, data = self.srv.request("GET", "/v1/predict")
        self.assertEqual((st, json.loads(data)["type"], headers.get("Allow")), (405, "method_not_allowed", "POST"))
        # truncation (the default) accepts the long input
        st, body = self.srv.json("POST", "/v1/predict", {"inputs": "word " * 200})
        self.assertEqual(st, 200, body)
        after = self.srv.metrics()
        for status, n in ((400, 4), (422, 11), (413, 2)):
            key = 'tinybert_requests_total{path="/v1/predict",status="%d"}' % status
            self.assertEqual(after[key] - before.get(key, 0), n, key)
        self.assertEqual(self.srv.json("GET", "/health")[0], 200)


class Limits(unittest.TestCase):
    def test_queue_full_gives_429_and_timeout_gives_503(self):
        long_text = "The quick brown fox jumps over the lazy dog near the river bank . " * 30
        with Server(BIN, MODEL, "--threads", "1", "--max-queue", "1", "--max-batch", "1") as srv:
            with ThreadPoolExecutor(32) as pool:
                results = list(pool.map(
                    lambda _: srv.json("POST", "/v1/predict", {"inputs": [long_text] * 64}), range(32)))
            statuses = sorted(st for st, _ in results)
            print("\n32 concurrent 64-input requests, queue of 1: statuses %s" %
                  {s: statuses.count(s) for s in set(statuses)})
            self.assertEqual(set(statuses) - {200, 429}, set())
            self.assertIn(429, statuses)
            self.assertIn(200, statuses)
            self.assertEqual([b["type"] for st, b in results if st == 429][0], "queue_full")
            self.assertEqual(srv.json("GET", "/health")[0], 200)
        # A deadline shorter than tokenizing the request: it expires in the queue.
        with Server(BIN, MODEL, "--threads", "1", "--timeout", "0.001") as srv:
            st, body = srv.json("POST", "/v1/predict", {"inputs": [long_text] * 200})
            self.assertEqual((st, body["type"]), (503, "timeout"), body)
            metrics = srv.metrics()
            self.assertEqual(metrics['tinybert_requests_total{path="/v1/predict",status="503"}'], 1)

    def test_sigterm_drains_in_flight_requests(self):
        srv = Server(BIN, MODEL, "--threads", "1", "--max-batch", "1",
                     "--max-inputs", "16384", "--max-body-kib", "65536")
        long_text = "The quick brown fox jumps over the lazy dog near the river bank . " * 12
        results = {}

        def post(key, n):
            results[key] = srv.json("POST", "/v1/predict", {"inputs": [long_text] * n}) + (time.time(),)

        # The busy request must outlast the polling below on any machine: size it to take about
        # two seconds here (a fixed size was answered before the queue was seen on a fast one).
        post("warm-up", 256)
        start = time.time()
        post("probe", 256)
        busy = min(16384, 256 * max(1, math.ceil(2.0 / max(time.time() - start, 1e-3))))
        self.assertEqual(srv.metrics()["tinybert_running_requests"], 0)  # the probe is done
        threads = [threading.Thread(target=post, args=("busy", busy))]
        threads[0].start()
        deadline = time.time() + 60
        while srv.metrics()["tinybert_running_requests"] < 1:  # tokenized and handed to the model
            self.assertTrue(threads[0].is_alive() and time.time() < deadline,
                            "the %d-input request was never seen running" % busy)
            time.sleep(0.005)
        threads.append(threading.Thread(target=post, args=("queued", 2)))
        threads[1].start()
        # SIGTERM once the second request is waiting in the queue behind the first.
        while srv.metrics()["tinybert_queue_depth"] < 1:
            self.assertTrue(threads[0].is_alive() and time.time() < deadline,
                            "the queued request was never seen waiting behind a %d-input one" % busy)
            time.sleep(0.005)
        sent = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(120)
        srv.proc.wait(60)  # not srv.stop() at once: a second SIGTERM during teardown kills it (-15)
        code = srv.stop()
        for key, n in (("busy", busy), ("queued", 2)):
            status, body, answered = results[key]
            self.assertEqual(status, 200, body)
            self.assertEqual(len(body["predictions"]), n)
            self.assertGreater(answered, sent, key + " was answered before the signal")
        log = "".join(srv.log)
        self.assertEqual(code, 0, log)
        self.assertIn("stopping: answering the requests in flight", log)
        self.assertIn("stopped", log)
        print("\nSIGTERM; the in-flight and the queued request answered %.0f and %.0f ms later; exit code %d"
              % ((results["busy"][2] - sent) * 1000, (results["queued"][2] - sent) * 1000, code))
        self.assertTrue(wait_port_closed(srv.port))


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(next(l for l in f if l.startswith("VmRSS:")).split()[1]) / 1024


def raw_exchange(port, data, read_timeout=10):
    """Sends raw bytes on a fresh connection (as much as the server takes) and returns the
    response bytes: for requests http.client cannot send."""
    s = socket.create_connection(("127.0.0.1", port))
    try:
        try:
            s.sendall(data)
        except OSError:  # the server answered and closed before taking everything
            pass
        s.settimeout(read_timeout)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return out
    finally:
        s.close()


def status_and_json(response):
    """Status and JSON body of the first response in `response`."""
    head, _, rest = response.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    return int(head.split(b" ")[1]), json.loads(rest[:length] or b"{}")


class Hostile(unittest.TestCase):
    """What an attacker or a clumsy client sends: the server answers it clearly and keeps serving
    everyone else."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(BIN, MODEL, "--threads", "1", "--max-body-kib", "64", "--request-timeout", "3",
                         "--max-connections", "300")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def assert_alive(self):
        self.assertEqual(self.srv.json("POST", "/v1/predict", {"inputs": "still here"})[0], 200)

    def test_deep_json_is_a_400_not_a_crash(self):
        for body in (b"[" * 30000 + b"]" * 30000, b'{"inputs": ' + b"[" * 30000 + b"]" * 30000 + b"}"):
            st, _, data = self.srv.request("POST", "/v1/predict", body, {"Content-Type": "application/json"})
            err = json.loads(data)
            self.assertEqual((st, err["type"]), (400, "invalid_json"), err)
            self.assertIn("nested deeper than 64 levels", err["error"])
        self.assert_alive()

    def test_body_limit_holds_for_chunked_and_length_less_bodies(self):
        port, before = self.srv.port, rss_mib(self.srv.proc.pid)
        head = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunk = b"10000\r\n" + b"a" * 65536 + b"\r\n"
        t0 = time.time()
        st, err = status_and_json(raw_exchange(port, head + chunk * 400))  # 26 MB, limit 64 KiB
        grown = rss_mib(self.srv.proc.pid) - before
        print("\n26 MB chunked body: %d in %.2f s, server memory grew %.1f MiB" % (st, time.time() - t0, grown))
        self.assertEqual((st, err["type"]), (413, "payload_too_large"), err)
        self.assertLess(grown, 16)
        # a small chunked body is read and answered
        body = json.dumps({"inputs": "a fine film"}).encode()
        s = socket.create_connection(("127.0.0.1", port))  # kept alive: read one response only
        try:
            s.sendall(head + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
            s.settimeout(10)
            self.assertIn(b"HTTP/1.1 200 OK", s.recv(65536))
        finally:
            s.close()
        # a POST with neither Content-Length nor chunked has no body (it is not read until EOF)
        st, err = status_and_json(raw_exchange(port, b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n\r\n" + b"x" * 1000))
        self.assertEqual((st, err["type"]), (400, "invalid_json"), err)
        # a Content-Length over the limit is refused without reading the body
        st, err = status_and_json(raw_exchange(
            port, b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" + b"x" * 1000))
        self.assertEqual((st, err["type"]), (413, "payload_too_large"), err)
        self.assert_alive()

    def test_any_content_type_up_to_the_limit(self):
        body = json.dumps({"inputs": ["word " * 2000, "fine"]}).encode()  # 20 KB, as `curl -d` sends it
        for ctype in ("application/x-www-form-urlencoded", "text/plain", "application/octet-stream"):
            st, _, data = self.srv.request("POST", "/v1/predict", body, {"Content-Type": ctype})
            self.assertEqual(st, 200, (ctype, data[:200]))
            self.assertEqual(len(json.loads(data)["predictions"]), 2)
        # a multipart form is a container, not a body: said so
        st, _, data = self.srv.request("POST", "/v1/predict", body, {"Content-Type": "multipart/form-data; boundary=x"})
        self.assertEqual((st, json.loads(data)["type"]), (415, "unsupported_media_type"))

    def test_slow_clients_do_not_starve_others(self):
        port, socks, stop = self.srv.port, [], threading.Event()
        for _ in range(200):  # headers trickled one byte every half second, never finished
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]  # connected, silent

        def trickle():
            while not stop.wait(0.5):
                for s in socks:
                    try:
                        s.send(b"X")
                    except OSError:
                        pass

        t = threading.Thread(target=trickle)
        t.start()
        try:
            time.sleep(1)
            worst = 0.0
            for _ in range(5):
                t0 = time.time()
                self.assert_alive()
                worst = max(worst, time.time() - t0)
            print("\nwith 200 clients trickling headers and 50 idle: slowest of 5 requests %.3f s" % worst)
            self.assertLess(worst, 1.0)
            # a request still incomplete after --request-timeout is answered 408 and closed
            time.sleep(3)
            out = b""
            socks[0].settimeout(5)
            try:
                out = socks[0].recv(4096)
            except OSError:
                pass
            self.assertIn(b"408 Request Timeout", out)
        finally:
            stop.set()
            t.join()
            for s in socks + idle:
                s.close()
        self.assert_alive()

    def test_connection_limit_and_oversized_heads(self):
        conns = [socket.create_connection(("127.0.0.1", self.srv.port)) for _ in range(310)]
        try:
            time.sleep(0.5)
            st, err = status_and_json(raw_exchange(self.srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
            self.assertEqual((st, err["type"]), (503, "too_many_connections"), err)
        finally:
            for c in conns:
                c.close()
        time.sleep(0.5)
        st, err = status_and_json(raw_exchange(
            self.srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n"))
        self.assertEqual((st, err["type"]), (431, "headers_too_large"), err)
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
        st, err = status_and_json(raw_exchange(self.srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"))
        self.assertEqual(st, 431, err)
        self.assert_alive()

    def test_methods_and_unknown_paths(self):
        for method in ("PUT", "PATCH", "DELETE"):
            st, headers, data = self.srv.request(method, "/v1/predict", b'{"inputs": "x"}',
                                                 {"Content-Type": "application/json"})
            self.assertEqual((st, json.loads(data)["type"], headers.get("Allow")), (405, "method_not_allowed", "POST"))
        st, _, data = self.srv.request("POST", "/nowhere", b"x" * 1000)
        self.assertEqual((st, json.loads(data)["type"]), (404, "not_found"))
        self.assert_alive()

    def test_framing_cannot_smuggle_or_hold_workers(self):
        port = self.srv.port
        # a rejected request line is answered 400 and the rest of its head is not run as a request
        out = raw_exchange(port, b"BAD\r\nPOST /v1/predict HTTP/1.1\r\nContent-Length: 21\r\n\r\n"
                                 b'{"inputs":"smuggled"}', read_timeout=5)
        self.assertTrue(out.startswith(b"HTTP/1.1 400"), out[:200])
        self.assertNotIn(b"predictions", out)
        for head in (b"Content-Length: 5\r\nTransfer-Encoding: chunked",
                     b"Content-Length : 5", b"Transfer-Encoding: gzip, chunked"):
            st, err = status_and_json(raw_exchange(
                port, b"POST /v1/predict HTTP/1.1\r\n" + head + b"\r\n\r\nhello"))
            self.assertEqual((st, err["type"]), (400, "bad_request"), head)
        # chunks that announce more than they send, "ending" early, hold no worker
        fake = (b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b'40\r\n{"inputs":"hello"}\r\n0\r\n\r\n')
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(150)]
        try:
            for s in socks:
                s.sendall(fake)
            time.sleep(0.5)
            t0 = time.time()
            self.assert_alive()
            print("\nwith 150 connections sending chunks shorter than announced: a request took %.3f s"
                  % (time.time() - t0))
            self.assertLess(time.time() - t0, 1.0)
        finally:
            for s in socks:
                s.close()
        # chunk extensions and trailers are valid HTTP and work
        body = json.dumps({"inputs": "a fine film"}).encode()
        s = socket.create_connection(("127.0.0.1", port))
        try:
            s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                      b"%x;ext=1\r\n" % len(body) + body + b"\r\n0\r\nX-Trailer: t\r\n\r\n")
            s.settimeout(10)
            self.assertIn(b"HTTP/1.1 200 OK", s.recv(65536))
        finally:
            s.close()

    def test_bodies_that_parse_badly_or_decode_big(self):
        for body, status, type_ in ((b'{"inputs": "a", "truncate": 1e99999}', 400, "invalid_json"),
                                    (b'{"inputs": "a"}\x00{{{', 400, "invalid_json"),
                                    (b'{"inputs": ' + b"9" * 30000 + b"}", 400, "invalid_json")):
            st, _, data = self.srv.request("POST", "/v1/predict", body, {"Content-Type": "application/json"})
            err = json.loads(data)
            self.assertEqual((st, err["type"]), (status, type_), err)
            self.assertLess(len(data), 1000)
        st, _, data = self.srv.request("POST", "/v1/predict", b'{"inputs": "a"}', {"Content-Encoding": "zstd"})
        self.assertEqual((st, json.loads(data)["type"]), (415, "unsupported_media_type"))
        bomb = gzip.compress(b"[" + b" " * (50 << 20) + b"]")  # 50 MB inflated, 50 KB sent
        st, _, data = self.srv.request("POST", "/v1/predict", bomb, {"Content-Encoding": "gzip"})
        self.assertEqual((st, json.loads(data)["type"]), (413, "payload_too_large"))
        self.assert_alive()

    def test_memory_does_not_keep_what_requests_brought(self):
        before = rss_mib(self.srv.proc.pid)
        big = json.dumps({"inputs": "!" * 60000, "truncate": False}).encode()  # 60 KB, one token each
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: self.srv.request("POST", "/v1/predict", big,
                                                                {"Content-Type": "application/json"})[0],
                                     range(64)))
        self.assertEqual(set(statuses), {422})
        grown = rss_mib(self.srv.proc.pid) - before
        print("\n64 requests of 60 KB each: server memory grew %.1f MiB" % grown)
        self.assertLess(grown, 24)

    def test_pairs_on_keep_alive_and_pipelined_requests(self):
        one = json.dumps({"inputs": "a fine film"}).encode()
        req = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(one), one)
        s = socket.create_connection(("127.0.0.1", self.srv.port))
        try:
            s.sendall(req * 3)  # three requests in one write
            s.settimeout(10)
            out = b""
            while out.count(b"HTTP/1.1 200") < 3:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
            self.assertEqual(out.count(b"HTTP/1.1 200 OK"), 3, out[:500])
        finally:
            s.close()


class StartUp(unittest.TestCase):
    def test_not_a_classifier(self):
        r = subprocess.run([BIN, "serve", "--model", os.path.join(FIX, "tiny-mlm"), "--port", "0"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is a BertForMaskedLM, which predicts no labels", r.stderr)

    def test_port_in_use(self):
        with Server(BIN, MODEL, "--threads", "1") as srv:
            r = subprocess.run([BIN, "serve", "--model", MODEL, "--port", str(srv.port)],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1)
            self.assertIn("cannot listen on 127.0.0.1:%d" % srv.port, r.stderr)

    def test_missing_model(self):
        r = subprocess.run([BIN, "serve", "--model", "/nonexistent", "--port", "0"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent", r.stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
