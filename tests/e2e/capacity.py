#!/usr/bin/env python3
"""Measures what one replica costs its monitoring: the inputs of the README's sizing table.

  tests/e2e/capacity.py [path/to/monitoring-demo] [--scrapes N]

Starts the demo (DEMO_SPEED=20 for 30 s first, so every label combination the traffic makes
exists), then measures
  - series: sample lines in /metrics (text format 0.0.4)
  - scrape bytes: the body as text, and as sent with Accept-Encoding: gzip
  - scrape CPU time: the demo's CPU time (utime + stime from /proc) during N scrapes, minus
    its CPU time during an equally long idle stretch in the same run (the simulated traffic
    keeps running in both); three rounds alternating idle and scraping, median reported.
Standard library only; prints a table and the values as JSON.
"""

import gzip
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def scrape(conn, gzip_ok):
    headers = {"Accept-Encoding": "gzip"} if gzip_ok else {}
    conn.request("GET", "/metrics", headers=headers)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"/metrics answered {response.status}")
    return body, response.getheader("Content-Encoding")


def cpu_per_scrape(pid, port, scrapes, gzip_ok):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    results = []
    for _ in range(3):
        start_cpu, start = cpu_seconds(pid), time.monotonic()
        for _ in range(scrapes):
            scrape(conn, gzip_ok)
        busy_cpu, elapsed = cpu_seconds(pid) - start_cpu, time.monotonic() - start
        idle_start = cpu_seconds(pid)
        time.sleep(elapsed)  # the baseline: the same stretch without scrapes
        idle_cpu = cpu_seconds(pid) - idle_start
        results.append((busy_cpu - idle_cpu) / scrapes)
    conn.close()
    return statistics.median(results)


def main(argv):
    demo = "build/release/examples/monitoring-demo"
    scrapes = 2000
    args = argv[1:]
    while args:
        arg = args.pop(0)
        if arg == "--scrapes":
            scrapes = int(args.pop(0))
        else:
            demo = arg
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="monitoring-capacity.") as tmp:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "MONITORING_HOST": "127.0.0.1",
               "MONITORING_PORT": str(port), "DEMO_SPEED": "20", "LOG_DIR": f"{tmp}/logs",
               "LOG_CONSOLE": "none", "SENTRY_CACHE_DIR": f"{tmp}/sentry"}
        with open(f"{tmp}/demo.out", "w", encoding="utf-8") as out:
            proc = subprocess.Popen([os.path.abspath(demo)], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        sys.exit(f"capacity: the demo did not start: {open(f'{tmp}/demo.out').read()[-500:]}")
                    time.sleep(0.1)
            time.sleep(30)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            text, _ = scrape(conn, False)
            packed, encoding = scrape(conn, True)
            conn.close()
            if encoding != "gzip" or gzip.decompress(packed).count(b"\n") < text.count(b"\n") // 2:
                sys.exit("capacity: /metrics did not answer gzip")
            lines = text.decode().splitlines()
            result = {
                "series": sum(1 for line in lines if line and not line.startswith("#")),
                "text_bytes": len(text),
                "gzip_bytes": len(packed),
                "cpu_ms_per_scrape_text": 1000 * cpu_per_scrape(proc.pid, port, scrapes, False),
                "cpu_ms_per_scrape_gzip": 1000 * cpu_per_scrape(proc.pid, port, scrapes, True),
                "scrapes_per_round": scrapes,
            }
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    print(f"series per replica          {result['series']}")
    print(f"scrape body, text           {result['text_bytes']} bytes")
    print(f"scrape body, gzip           {result['gzip_bytes']} bytes")
    print(f"CPU per scrape, text        {result['cpu_ms_per_scrape_text']:.3f} ms (minus the same-run idle baseline)")
    print(f"CPU per scrape, gzip        {result['cpu_ms_per_scrape_gzip']:.3f} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
