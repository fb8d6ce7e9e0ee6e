#!/usr/bin/env python3
"""Bulk import at the server's pace: hsm's adaptive concurrency and rate against the fixed
concurrency of 16 it had before (issue 15), side by side, against the sandbox.

Scenarios (each a fresh sandbox, the same rows, `hsm contacts import --concurrency 16`):
  rate-limit   `--rate-limit 100` (5 ms latency): rows/s and the share of requests answered 429
  rate         `--rate 50` against no limit (5 ms): rows/s, 429s, the busiest one-second window
  latency-40   no limit, 40 ms latency: rows/s against concurrency / latency = 400 rows/s
  latency-5    no limit, 5 ms latency: rows/s
  https-40     as latency-40, over HTTPS (examples/tls_front.rs): rows/s and TLS handshakes

The sandbox is always the current one (the old one has no --rate-limit); the client is the
current release build and the baseline binary (default: built once from BASELINE_REV into
target/bench-baseline/). Usage: scripts/bench_pace.py [--quick] [--baseline PATH]
Results are printed and written to target/bench-pace.json.
"""
import json, os, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Sandbox, free_port, rows_file  # noqa: E402

# The last commit before adaptive pacing: import at a fixed concurrency.
BASELINE_REV = "37ae996"
QUICK = "--quick" in sys.argv
ROWS = 500 if QUICK else 2_000
RATE_ROWS = 300 if QUICK else 1_000


def baseline_binary():
    if "--baseline" in sys.argv:
        return sys.argv[sys.argv.index("--baseline") + 1]
    out = os.path.join(ROOT, "target", "bench-baseline")
    binary = os.path.join(out, "target", "release", "hsm")
    if not os.path.exists(binary):
        src = os.path.join(out, "src")
        if not os.path.exists(src):
            subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", src, BASELINE_REV], check=True)
        print(f"building the baseline ({BASELINE_REV}) once, into {out} ...", flush=True)
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "hsm"], cwd=src, check=True,
                       env=dict(os.environ, CARGO_TARGET_DIR=os.path.join(out, "target")))
    return binary


class TlsFront:
    """examples/tls_front.rs in front of a sandbox; counts TLS handshakes."""

    def __init__(self, upstream, work):
        exe = os.path.join(ROOT, "target", "release", "examples", "tls_front")
        self.ca = f"{work}/front-ca.pem"
        self.p = subprocess.Popen([exe, upstream, self.ca], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        self.url = self.p.stdout.readline().strip()

    def handshakes(self):
        self.p.stdin.close()
        line = self.p.stdout.readline().strip()
        self.p.wait()
        return int(line.split()[1])


def import_run(hsm, sb_args, rows, flags, work, env, tls=False):
    """One import of `rows` fresh rows through a fresh sandbox; what it measured."""
    sb = Sandbox(hsm_current, *sb_args)
    env = dict(env, HSM_SANDBOX_URL=sb.url, HSM_STATE_DIR=f"{work}/state-{time.monotonic_ns()}")
    subprocess.run([hsm, "login", "--env", "sandbox", "--redirect-uri",
                    f"http://127.0.0.1:{free_port()}/callback"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    front = None
    if tls:
        front = TlsFront(sb.url, work)
        env = dict(env, HSM_SANDBOX_URL=front.url, HSM_CA_FILE=front.ca)
    path = f"{work}/rows-{time.monotonic_ns()}.jsonl"
    rows_file(path, rows, f"P{time.monotonic_ns()}-")
    start = time.perf_counter()
    p = subprocess.run([hsm, "contacts", "import", path, "--env", "sandbox", "--concurrency", "16",
                        "--report", f"{path}.report", *flags], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    stats = sb.stats()
    result = {
        "exit": p.returncode, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds, 1),
        "requests": stats["api_requests"], "answered_429": stats["rate_limited"],
        "share_429": round(stats["rate_limited"] / max(1, stats["api_requests"]), 4),
        "busiest_second": stats["api_max_per_second"], "peak_in_flight": stats["api_in_flight_peak"],
        "created": stats["contacts_created"], "duplicates": stats["duplicate_external_ids"],
    }
    if front:
        result["tls_handshakes"] = front.handshakes()
    sb.stop()
    if p.returncode != 0:
        result["stderr_tail"] = p.stderr.strip().splitlines()[-1:]
    return result


def main():
    global hsm_current
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "hsm", "--example", "tls_front"],
                   cwd=ROOT, check=True)
    hsm_current = os.path.join(ROOT, "target", "release", "hsm")
    baseline = baseline_binary()
    work = tempfile.mkdtemp(prefix="hsm-bench-pace-")
    env = dict(os.environ, XDG_CONFIG_HOME=f"{work}/config", HSM_CREDENTIAL_STORE="file",
               HSM_CREDENTIALS_FILE=f"{work}/creds.json", NO_PROXY="*", HSM_BROWSER="curl -fsSL -o /dev/null")
    scenarios = [
        ("rate-limit 100", ["--rate-limit", "100", "--latency-ms", "5"], ROWS, [], False),
        ("--rate 50", ["--latency-ms", "5"], RATE_ROWS, ["--rate", "50"], False),
        ("latency 40 ms", ["--latency-ms", "40"], ROWS, [], False),
        ("latency 5 ms", ["--latency-ms", "5"], ROWS, [], False),
        ("https, 40 ms", ["--latency-ms", "40"], ROWS, [], True),
    ]
    results = {}
    print(f"{'scenario':<16} {'client':<9} {'rows/s':>8} {'429s':>6} {'429 %':>6} {'busiest s':>9} {'TLS hs':>6}")
    for name, sb_args, rows, flags, tls in scenarios:
        for client, binary in (("adaptive", hsm_current), ("fixed 16", baseline)):
            if flags and client == "fixed 16":
                continue  # the baseline has no --rate
            r = import_run(binary, sb_args, rows, flags, work, env, tls)
            results[f"{name} / {client}"] = r
            print(f"{name:<16} {client:<9} {r['rows_per_s']:>8.1f} {r['answered_429']:>6} "
                  f"{r['share_429']*100:>5.1f}% {r['busiest_second']:>9} {r.get('tls_handshakes', ''):>6}"
                  f"{'' if r['exit'] == 0 else '  exit ' + str(r['exit'])}", flush=True)
    with open(os.path.join(ROOT, "target", "bench-pace.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("results: target/bench-pace.json")


if __name__ == "__main__":
    main()
