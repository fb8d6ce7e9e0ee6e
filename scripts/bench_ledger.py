#!/usr/bin/env python3
"""The ledger at size (issue 23): `hsm contacts sync` of 20,000 and 200,000 rows (the sandbox's
cap) into a fresh ledger, then with 1% changed, then unchanged; the time of
`hsm contacts import --dry-run` on the same file (reading and validating it) beside the
unchanged sync; peak memory of each; the ledger's size per row; and import throughput at 5 ms
and 40 ms of latency (2,000 rows, concurrency 16).

Release build, the sandbox in its own process, one fresh ledger per size.
Usage: scripts/bench_ledger.py [--quick] [--baseline PATH]   (--quick: 2,000 and 20,000 rows;
--baseline: an hsm built before the ledger, whose import throughput is measured alongside)
Results are printed and written to target/bench-ledger.json.
"""
import json, os, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Sandbox, free_port, peak_kib, rows_file  # noqa: E402

QUICK = "--quick" in sys.argv
SIZES = [2_000, 20_000] if QUICK else [20_000, 200_000]
IMPORT_ROWS = 2_000


def timed(cmd, env):
    """Seconds and peak KiB of one run (the run is repeated under GNU time for the memory)."""
    start = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return seconds


def login(hsm, env):
    subprocess.run([hsm, "login", "--env", "sandbox", "--redirect-uri",
                    f"http://127.0.0.1:{free_port()}/callback"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def edit_one_percent(path):
    with open(path) as f:
        lines = f.readlines()
    for i in range(0, len(lines), 100):
        row = json.loads(lines[i])
        row["zip"] = "10001"
        lines[i] = json.dumps(row) + "\n"
    with open(path, "w") as f:
        f.writelines(lines)


def ledger_bytes(path):
    return sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))


def sync_at(hsm, base_env, work, rows):
    sb = Sandbox(hsm)
    ledger = f"{work}/ledger-{rows}/ledger.sqlite3"
    env = dict(base_env, HSM_SANDBOX_URL=sb.url, HSM_LEDGER=f"sqlite:{ledger}")
    login(hsm, env)
    path = f"{work}/sync-{rows}.jsonl"
    rows_file(path, rows, f"L{rows}-")
    sync = [hsm, "contacts", "sync", path, "--env", "sandbox", "--concurrency", "16"]
    out = {"rows": rows}
    for name in ("fresh", "one_percent", "unchanged"):
        if name == "one_percent":
            edit_one_percent(path)
        before = sb.stats()["api_requests"]
        seconds = timed(sync, env)
        sent = sb.stats()["api_requests"] - before
        out[name] = {"seconds": round(seconds, 2), "requests": sent}
    # Memory of the unchanged sync, and the dry-run import (read and validate) beside it.
    out["unchanged"]["peak_kib"] = peak_kib(sync, env)
    dry = [hsm, "contacts", "import", path, "--env", "sandbox", "--dry-run"]
    subprocess.run(dry, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm
    start = time.perf_counter()
    subprocess.run(dry, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out["import_dry_run"] = {"seconds": round(time.perf_counter() - start, 2)}
    out["ledger_bytes"] = ledger_bytes(ledger)
    out["ledger_bytes_per_row"] = round(out["ledger_bytes"] / rows, 1)
    stats = sb.stats()
    assert stats["contacts_created"] == rows and stats["duplicate_external_ids"] == 0, stats
    sb.stop()
    return out


def import_at(hsm, base_env, work, latency_ms, sandbox_hsm=None):
    sb = Sandbox(sandbox_hsm or hsm, "--latency-ms", str(latency_ms))
    tag = f"{latency_ms}-{time.monotonic_ns()}"
    env = dict(base_env, HSM_SANDBOX_URL=sb.url, HSM_LEDGER=f"sqlite:{work}/import-{tag}/l.sqlite3",
               HSM_STATE_DIR=f"{work}/state-{tag}")
    login(hsm, env)
    path = f"{work}/import-{tag}.jsonl"
    rows_file(path, IMPORT_ROWS, f"I{tag}-")
    seconds = timed([hsm, "contacts", "import", path, "--env", "sandbox", "--concurrency", "16"], env)
    sb.stop()
    return {"latency_ms": latency_ms, "rows": IMPORT_ROWS, "rows_per_s": round(IMPORT_ROWS / seconds, 1)}


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "hsm"], cwd=ROOT, check=True)
    hsm = os.path.join(ROOT, "target", "release", "hsm")
    work = tempfile.mkdtemp(prefix="hsm-bench-ledger-")
    env = dict(os.environ, XDG_CONFIG_HOME=f"{work}/config", HSM_CREDENTIAL_STORE="file",
               HSM_CREDENTIALS_FILE=f"{work}/creds.json", HSM_STATE_DIR=f"{work}/state", NO_PROXY="*",
               HSM_BROWSER="curl -fsSL -o /dev/null")
    results = {"sync": [], "import": []}
    print(f"{'rows':>8} {'fresh s':>8} {'1% s':>7} {'1% req':>7} {'same s':>7} {'same req':>8} "
          f"{'dry-run s':>9} {'peak MiB':>8} {'B/row':>6}")
    for rows in SIZES:
        r = sync_at(hsm, env, work, rows)
        results["sync"].append(r)
        peak = r["unchanged"]["peak_kib"]
        print(f"{rows:>8} {r['fresh']['seconds']:>8} {r['one_percent']['seconds']:>7} "
              f"{r['one_percent']['requests']:>7} {r['unchanged']['seconds']:>7} {r['unchanged']['requests']:>8} "
              f"{r['import_dry_run']['seconds']:>9} {(peak or 0) / 1024:>8.1f} {r['ledger_bytes_per_row']:>6}",
              flush=True)
    # Import throughput, interleaved with the client before the ledger (--baseline PATH) when given.
    baseline = sys.argv[sys.argv.index("--baseline") + 1] if "--baseline" in sys.argv else None
    for latency in (5, 40):
        for round_ in range(3):
            for name, binary in (("ledger", hsm), ("baseline", baseline)):
                if binary is None:
                    continue
                r = import_at(binary, env, work, latency, sandbox_hsm=hsm)
                r["client"] = name
                results["import"].append(r)
                print(f"import, {latency} ms latency, {name}: {r['rows_per_s']} rows/s", flush=True)
    with open(os.path.join(ROOT, "target", "bench-ledger.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("results: target/bench-ledger.json")


if __name__ == "__main__":
    main()
