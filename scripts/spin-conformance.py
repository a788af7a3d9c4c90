#!/usr/bin/env python3
"""Runs Spin's public conformance tests against `studio-edge up`, the way
Spin's own runner drives `spin up`, and prints how many pass.

    scripts/spin-conformance.py CHECKOUT [--host target/debug/studio-edge] [--only NAME]

CHECKOUT is a checkout of the conformance-tests repository with its
components built (`cargo build --release --target wasm32-unknown-unknown
--workspace --exclude conformance-tests --exclude test-environment
--exclude conformance-tests-cli`), so each test's `%{source=NAME}` names a
core wasm module there (the host turns it into a component, as Spin does).
Services come from this machine: Redis 6379, Mosquitto 1883 and
PostgreSQL 5432 (a `spin_dev` database is made from the suite's init SQL);
the HTTP and TCP echo services are started here on free ports. Not part
of the test suite: the checkout is not vendored.
"""

import argparse
import glob
import json
import os
import re
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import http.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE_PORTS = {"redis": 6379, "mqtt": 1883, "postgres": 5432}


def json5_load(path):
    """The suite's test.json5 files: JSON with unquoted keys, comments and
    trailing commas."""
    text = open(path).read()
    text = re.sub(r"(?m)^\s*//[^\n]*", "", text)
    text = re.sub(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:", r'\1"\2":', text)
    text = re.sub(r",(\s*[}\]])", r"\1", text)
    return json.loads(text)


class Echo(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args):
        pass


class TcpEcho(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(4096):
            self.request.sendall(data)


def start_echo_services():
    http_server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    tcp_server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), TcpEcho)
    for server in (http_server, tcp_server):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return {"http-echo": http_server.server_address[1], "tcp-echo": tcp_server.server_address[1]}


def component_paths(checkout):
    paths = {}
    for cargo in glob.glob(os.path.join(checkout, "components/*/Cargo.toml")):
        name = tomllib.load(open(cargo, "rb"))["package"]["name"].replace("-", "_")
        wasm = os.path.join(checkout, "target/wasm32-unknown-unknown/release", name + ".wasm")
        paths[os.path.basename(os.path.dirname(cargo))] = wasm
    return paths


def prepare_postgres(checkout):
    psql = ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1"]
    subprocess.run(psql + ["-d", "test", "-c", "DROP DATABASE IF EXISTS spin_dev"], check=True)
    subprocess.run(psql + ["-d", "test", "-c", "CREATE DATABASE spin_dev"], check=True)
    for sql in sorted(glob.glob(os.path.join(checkout, "crates/test-environment/services/postgres-init/*.sql"))):
        subprocess.run(psql + ["-d", "spin_dev", "-f", sql], check=True, stdout=subprocess.DEVNULL)


def substitute(text, ports, sources):
    def port(match):
        wanted = int(match.group(1))
        return str(ports.get(wanted, wanted))

    text = re.sub(r"%\{port=(\d+)\}", port, text)
    return re.sub(r"%\{source=([^}]+)\}", lambda m: sources[m.group(1)], text)


def start_host(host, workdir):
    process = subprocess.Popen(
        [host, "up", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(workdir, ".spin")],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("Serving http://"):
            return process, line.split("Serving http://")[1].strip()
    process.kill()
    raise RuntimeError("the host did not start: " + process.stderr.read()[-2000:])


def check(expected, status, headers, body):
    want_status = expected.get("status", 200)
    if status != want_status:
        return f"status {status} != {want_status}: {body!r}"
    if body != expected.get("body", ""):
        return f"body {body!r} != {expected.get('body', '')!r}"
    actual = {k.lower(): v.lower() for k, v in headers}
    for header in expected.get("headers", []):
        value = actual.pop(header["name"].lower(), None)
        if value is None:
            if not header.get("optional"):
                return f"missing header {header['name']}"
        elif "value" in header and value != header["value"].lower():
            return f"header {header['name']}: {value!r} != {header['value']!r}"
    return f"unexpected headers {actual}" if actual else None


def run_test(test_dir, args, sources, echo_ports):
    config = json5_load(os.path.join(test_dir, "test.json5"))
    kinds = [p["kind"] for p in config.get("preconditions", [])]
    ports = {}
    for kind in kinds:
        if kind == "http-echo":
            ports[80] = echo_ports["http-echo"]
        if kind == "tcp-echo":
            ports[7] = echo_ports["tcp-echo"]
        if kind == "postgres":
            prepare_postgres(args.checkout)
    workdir = tempfile.mkdtemp(prefix="conformance-")
    try:
        manifest = open(os.path.join(test_dir, "spin.toml")).read()
        open(os.path.join(workdir, "spin.toml"), "w").write(substitute(manifest, ports, sources))
        process, addr = start_host(args.host, workdir)
        try:
            for invocation in config["invocations"]:
                request = invocation["request"]
                headers = {h["name"]: substitute(h["value"], ports, sources) for h in request.get("headers", [])}
                # http.client sends only these headers (urllib would add
                # `Connection: close`, which the server then echoes).
                host, port = addr.rsplit(":", 1)
                connection = http.client.HTTPConnection(host, int(port), timeout=60)
                connection.request(request.get("method", "GET"), request["path"], headers=headers)
                response = connection.getresponse()
                status, got_headers, body = response.status, response.getheaders(), response.read()
                connection.close()
                problem = check(invocation["response"], status, got_headers, body.decode("utf-8", "replace"))
                if problem:
                    return problem
            return None
        finally:
            process.kill()
            process.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout")
    parser.add_argument("--host", default=os.path.join(os.path.dirname(__file__), "../target/debug/studio-edge"))
    parser.add_argument("--only")
    args = parser.parse_args()
    args.host = os.path.abspath(args.host)
    sources = component_paths(args.checkout)
    echo_ports = start_echo_services()
    passed = failed = 0
    for test_dir in sorted(glob.glob(os.path.join(args.checkout, "tests/*/"))):
        name = os.path.basename(test_dir.rstrip("/"))
        if args.only and name != args.only:
            continue
        try:
            problem = run_test(test_dir, args, sources, echo_ports)
        except Exception as error:  # a host that does not start is a failure
            problem = str(error)
        if problem:
            failed += 1
            print(f"FAIL {name}: {problem}")
        else:
            passed += 1
            print(f"ok   {name}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
