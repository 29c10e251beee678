#!/usr/bin/env python3
"""Slowloris against the example server: its memory and how fast it drops the sockets.

Starts `marketplace` (MARKETPLACE_BIN, default target/debug/marketplace) on a free port with
a throwaway sled directory and its default serving limits (header-read timeout 10 s, idle
keep-alive timeout 60 s, 4096 connections), then opens SOCKETS (default 3000) connections:
a third send a partial request head and one more header line every 5 s, a third send a
whole request and then stay idle on the kept-alive connection, a third connect and send
nothing. It prints the server's RSS before, at its peak and after, how long until every
attacking socket was closed by the server, and the latency of ordinary requests during the
attack. Exits non-zero if a socket outlives the timeout by more than 5 s.

    MARKETPLACE_BIN=target/debug/marketplace python3 examples/marketplace/fuzz/slowloris.py
"""
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time

SOCKETS = int(os.environ.get("SOCKETS", "3000"))
HEADER_TIMEOUT = float(os.environ.get("MARKETPLACE_HEADER_TIMEOUT", "10"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def attacker(port, kind, closed_at, started, failed):
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
    except (OSError, asyncio.TimeoutError) as error:
        failed.append(repr(error))
        return
    connected = time.monotonic()
    try:
        if kind == "trickle":
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
        elif kind == "keepalive":
            writer.write(b"GET /demo/users HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()

        async def trickle():
            while kind == "trickle":
                await asyncio.sleep(5)
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()

        task = asyncio.create_task(trickle())
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass
        task.cancel()
    except ConnectionError:
        pass
    closed_at.append(time.monotonic() - connected)
    writer.close()


async def request_latency(port):
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /demo/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    await reader.read()
    writer.close()
    return time.monotonic() - started


async def main():
    binary = os.environ.get("MARKETPLACE_BIN", "target/debug/marketplace")
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    data = tempfile.mkdtemp(prefix="slowloris-")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.setdefault("RUST_LOG", "warn")
    server = subprocess.Popen([binary, "--addr", f"127.0.0.1:{port}", "--data-dir", data], env=env,
                              stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                await request_latency(port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        before = rss_kib(server.pid)
        started = time.monotonic()
        closed_at = []
        kinds = ["trickle", "keepalive", "silent"]
        failed = []
        tasks = []
        for i in range(SOCKETS):
            tasks.append(asyncio.create_task(attacker(port, kinds[i % 3], closed_at, started, failed)))
            if i % 200 == 199:
                await asyncio.sleep(0.05)  # let the listen backlog drain
        print(f"opened {SOCKETS} sockets in {time.monotonic() - started:.1f} s", flush=True)
        peak, latencies = before, []
        while len(closed_at) + len(failed) < SOCKETS and time.monotonic() - started < HEADER_TIMEOUT + 30:
            await asyncio.sleep(0.5)
            peak = max(peak, rss_kib(server.pid))
            latencies.append(await request_latency(port))
        await asyncio.gather(*tasks, return_exceptions=True)
        after = rss_kib(server.pid)
        latencies.sort()
        last = max(closed_at) if closed_at else float("inf")
        print(f"sockets: {SOCKETS} ({SOCKETS // 3} trickling headers every 5 s, {SOCKETS // 3} idle keep-alive, rest silent)")
        print(f"server RSS: before {before / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, after {after / 1024:.1f} MiB")
        print(f"closed by the server: {len(closed_at)}/{SOCKETS}, the longest-lived after {last:.1f} s of its own "
              f"(header timeout {HEADER_TIMEOUT:.0f} s); all within {time.monotonic() - started:.1f} s of the first")
        print(f"ordinary requests during the attack: {len(latencies)}, p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
              f"max {latencies[-1] * 1000:.1f} ms")
        if failed:
            print(f"could not connect: {len(failed)} ({failed[0]})")
        if len(closed_at) < SOCKETS or last > HEADER_TIMEOUT + 5:
            sys.exit(1)
    finally:
        server.terminate()
        server.wait()


asyncio.run(main())
