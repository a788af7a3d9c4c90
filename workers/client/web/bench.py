"""Browser figures for the client package: `python3 bench.py [DIST_DIR]`.

Serves DIST_DIR (default host/client-dist, built by build_client) and
bench.html on 127.0.0.1, opens the page in headless Chromium, prints the
package's sizes (raw and gzip) and the figures the page posts back (load to
ready, shade match and try-on at 640x480), then stops Chromium.
"""

import gzip
import http.server
import json
import pathlib
import shutil
import subprocess
import sys
import threading

HERE = pathlib.Path(__file__).resolve().parent
DIST = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "host" / "client-dist"
TIMEOUT_S = 120
TYPES = {".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".html": "text/html"}


class Handler(http.server.BaseHTTPRequestHandler):
    result = None
    done = threading.Event()

    def do_GET(self):
        name = self.path.lstrip("/").split("?")[0]
        path = HERE / name if name == "bench.html" else DIST / name
        if "/" in name or not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("content-type", TYPES.get(path.suffix, "application/octet-stream"))
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers["content-length"])
        Handler.result = json.loads(self.rfile.read(length))
        self.send_response(204)
        self.end_headers()
        Handler.done.set()

    def log_message(self, *args):
        pass


def sizes():
    manifest = json.loads((DIST / "manifest.json").read_text())
    for logical, name in manifest.items():
        raw = (DIST / name).read_bytes()
        print(f"{logical}: {len(raw)} bytes, gzip -9 {len(gzip.compress(raw, 9))}")


def main():
    sizes()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/bench.html"
    browser = shutil.which("chromium") or sys.exit("chromium is not installed")
    chromium = subprocess.Popen(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--user-data-dir=/tmp/studio-edge-bench-profile", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not Handler.done.wait(TIMEOUT_S):
            sys.exit(f"no result from {url} within {TIMEOUT_S} s")
    finally:
        chromium.terminate()
        chromium.wait()
        server.shutdown()
    print(json.dumps(Handler.result, indent=2))
    if "error" in Handler.result:
        sys.exit(1)


if __name__ == "__main__":
    main()
