"""Starting and talking to a `tinybert serve` process on a free loopback port, for the tests."""
import http.client
import json
import re
import subprocess
import threading
import time


class Server:
    """A running `tinybert serve --port 0`; its stderr is collected in `log`."""

    def __init__(self, binary, model, *extra, wait_ready=True):
        self.proc = subprocess.Popen([binary, "serve", "--model", model, "--port", "0", *extra],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.log, self.port = [], None
        self._listening, self._ready = threading.Event(), threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._listening.wait(60):
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.log))
        if wait_ready and not self._ready.wait(60):
            self.stop()
            raise RuntimeError("model did not load:\n" + "".join(self.log))

    def _read(self):
        for line in self.proc.stderr:
            self.log.append(line)
            m = re.search(r"listening on http://[\d.]+:(\d+)/", line)
            if m:
                self.port = int(m.group(1))
                self._listening.set()
            if line.startswith("ready: "):
                self._ready.set()
        self._listening.set()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, headers=None):
        """(status, headers dict, body bytes) of one request on a fresh connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                headers = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def json(self, method, path, body=None):
        status, _, data = self.request(method, path, body)
        return status, json.loads(data)

    def metrics(self):
        status, _, data = self.request("GET", "/metrics")
        assert status == 200
        out = {}
        for line in data.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(10)
        self.proc.stderr.close()
        return code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def wait_port_closed(port, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
        except OSError:
            return True
        time.sleep(0.1)
    return False
