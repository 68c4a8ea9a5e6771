#!/usr/bin/env python3
"""The image download benchmarks (run through images.sh, which builds the
binaries and sets BOS, IMAGE_TOOL, W and SIZE_MIB)."""

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request

BOS = os.environ["BOS"]
TOOL = os.environ["IMAGE_TOOL"]
W = os.environ["W"]
SIZE_MIB = int(os.environ["SIZE_MIB"])
REUSE = os.environ.get("REUSE") == "1"
RUNS = int(os.environ.get("RUNS", "3"))
ONLY = os.environ.get("ONLY", "")  # "memory" or "throughput" to run one part
TICK = os.sysconf("SC_CLK_TCK")
VERSION = "9.0.0"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start_server(data):
    proc = subprocess.Popen(
        [BOS, "serve", "--demo", "--data", data, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=open(f"{W}/server.log", "a"),
        text=True,
    )
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        raise SystemExit(f"server did not start: {url!r}")
    return proc, url


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def curl(url, out="/dev/null", headers=(), extra=()):
    cmd = ["curl", "-sS", "-f", "-o", out, "-w", "%{time_total} %{size_download} %{http_code}"]
    for h in headers:
        cmd += ["-H", h]
    cmd += list(extra)
    cmd.append(url)
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    t, n, code = r.stdout.split()
    return float(t), int(n), int(code)


def prepare():
    os.makedirs(W, exist_ok=True)
    img = f"{W}/img"
    data = f"{W}/data"
    marker = f"{W}/imported"
    if not (REUSE and os.path.exists(marker)):
        subprocess.run(["rm", "-rf", data, marker], check=True)
        log(f"== making a {SIZE_MIB} MiB image")
        subprocess.run([TOOL, "make", img, str(SIZE_MIB)], check=True, stdout=subprocess.DEVNULL)
        log("== demo catalog, then importing the image as intel-nuc", VERSION)
        proc, _ = start_server(data)
        stop(proc)
        t = time.time()
        subprocess.run(
            [BOS, "admin", "--data", data, "import-image", img,
             "--device-type", "intel-nuc", "--version", VERSION],
            check=True, stdout=open(f"{W}/import.json", "w"))
        log(f"   imported in {time.time() - t:.1f} s")
        open(marker, "w").close()
    subprocess.run(["cat", img], stdout=subprocess.DEVNULL, check=True)  # page cache
    return img, data


def pigz_cpu(img):
    best = None
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(["pigz", "-6", "-p", str(os.cpu_count()), "-c", img],
                       stdout=subprocess.DEVNULL, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = cpu if best is None else min(best, cpu)
    return best


def nginx(root):
    port = free_port()
    conf = f"{W}/nginx.conf"
    with open(conf, "w") as f:
        f.write(f"""daemon off;
worker_processes 1;
pid {W}/nginx.pid;
error_log {W}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", W], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}"


def best_of(fn):
    return min((fn() for _ in range(RUNS)), key=lambda r: r[0])


def main():
    img, data = prepare()
    proc, url = start_server(data)
    pid = proc.pid
    key = open(f"{data}/demo-api-key").read().strip()
    auth = f"Authorization: Bearer {key}"
    q = urllib.request.Request(
        f"{url}/v7/application?$select=id&$filter=slug%20eq%20%27demo%2Fnuc-gateways%27",
        headers={"Authorization": f"Bearer {key}"})
    app = json.load(urllib.request.urlopen(q))["d"][0]["id"]
    base = (f"{url}/download?deviceType=intel-nuc&version={VERSION}&appId={app}"
            f"&network=wifi&wifiSsid=bench&wifiKey=benchpass123&appUpdatePollInterval=10")
    results = {"machine": f"{os.cpu_count()} cores, {os.uname().release}", "size_mib": SIZE_MIB}

    if ONLY != "memory":
        log("== pigz -6 -c (CPU)")
        results["pigz_cpu_s"] = pigz_cpu(img)
    static = f"{W}/static"
    os.makedirs(static, exist_ok=True)
    ng, ng_url = nginx(static)
    try:
        for ft in (".gz", ".zip", ".img") if ONLY != "memory" else ():
            u = f"{base}&fileType={ft}"
            # The first download configures the image (re-deflates the boot chunk).
            c0 = cpu_seconds(pid)
            t, n, code = curl(u, out=f"{static}/download{ft}", headers=[auth])
            first_cpu = cpu_seconds(pid) - c0
            assert code == 200, code

            def ours():
                c = cpu_seconds(pid)
                t, n, _ = curl(u, headers=[auth])
                return t, n, cpu_seconds(pid) - c

            t, n, cpu = best_of(ours)
            target = f"download{ft}" if ft != ".img" else "raw.img"
            if ft == ".img":
                if os.path.exists(f"{static}/raw.img"):
                    os.remove(f"{static}/raw.img")
                os.link(img, f"{static}/raw.img")
            nt, nn, _ = best_of(lambda: curl(f"{ng_url}/{target}"))
            assert nn == n, (nn, n)
            results[ft] = {
                "bytes": n,
                "ours_s": t, "ours_mib_s": n / t / 2**20,
                "nginx_s": nt, "nginx_mib_s": n / nt / 2**20,
                "throughput_ratio": nt / t,
                "server_cpu_s": cpu, "first_download_cpu_s": first_cpu,
                "cpu_vs_pigz_pct": 100 * cpu / results["pigz_cpu_s"],
                "first_cpu_vs_pigz_pct": 100 * first_cpu / results["pigz_cpu_s"],
            }
            log(f"{ft}: {json.dumps(results[ft])}")

        # Memory with 50 concurrent downloads.
        for ft, rate in ((".gz", "20M"), (".img", "20M")) if ONLY != "throughput" else ():
            # A fresh server for each: what one kind of load needs.
            stop(proc)
            proc, url = start_server(data)
            pid = proc.pid
            base = base.split("/download?", 1)[1]
            base = f"{url}/download?{base}"
            time.sleep(1)
            idle = rss_mib(pid)
            clients = [subprocess.Popen(
                ["curl", "-sS", "-o", "/dev/null", "--limit-rate", rate, "-H", auth,
                 f"{base}&fileType={ft}"], stderr=subprocess.DEVNULL) for _ in range(50)]
            peak = idle
            end = time.time() + 15
            while time.time() < end:
                peak = max(peak, rss_mib(pid))
                time.sleep(0.1)
            for c in clients:
                c.terminate()
            for c in clients:
                c.wait()
            results[f"rss_50_{ft}"] = {"idle_mib": idle, "peak_mib": peak}
            log(f"50 concurrent {ft}: idle {idle:.1f} MiB, peak {peak:.1f} MiB")
            time.sleep(1)
    finally:
        ng.terminate()
        ng.wait()
        stop(proc)
    with open(f"{W}/results.json", "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))
    p = results.get("pigz_cpu_s", 0.0)
    print(f"\npigz -6 -c: {p:.2f} s CPU")
    for ft in (".gz", ".zip", ".img") if ONLY != "memory" else ():
        r = results[ft]
        print(f"{ft}: ours {r['ours_mib_s']:.0f} MiB/s vs nginx {r['nginx_mib_s']:.0f} MiB/s "
              f"= {r['throughput_ratio']:.2f}x; server CPU {r['server_cpu_s']:.3f} s "
              f"({r['cpu_vs_pigz_pct']:.2f}% of pigz; first download {r['first_download_cpu_s']:.3f} s "
              f"= {r['first_cpu_vs_pigz_pct']:.2f}%)")
    for ft in (".gz", ".img") if ONLY != "throughput" else ():
        r = results[f"rss_50_{ft}"]
        print(f"50 concurrent {ft}: RSS idle {r['idle_mib']:.1f} MiB, peak {r['peak_mib']:.1f} MiB")


if __name__ == "__main__":
    main()
