#!/usr/bin/env python3
"""The ledger at size (issue 23): `hsm contacts sync` of 20,000 and 200,000 rows (the sandbox's
cap) into a fresh ledger, then with 1% changed, then unchanged; the time of
`hsm contacts import --dry-run` on the same file (reading and validating it) beside the
unchanged sync; peak memory of each; the ledger's size per row; and import throughput at 5 ms
and 40 ms of latency (2,000 rows, concurrency 16).

Release build, the sandbox in its own process, one fresh ledger per size.
Usage: scripts/bench_ledger.py [--quick] [--baseline PATH] [--import-only] [--rounds N]
(--quick: 2,000 and 20,000 rows; --baseline: an hsm built before the ledger, whose import
throughput is measured alongside, interleaved, N rounds each (default 3), medians compared;
--import-only: skip the syncs)
Results are printed and written to target/bench-ledger.json.

--postgres (issue 24): instead, the shared ledger against the local one in one run: a sync of
200,000 rows (--quick: 20,000) into each, then the same sync unchanged (median of 3), and an
import of 10,000 rows at 5 ms latency, on SQLite and on a private PostgreSQL cluster (Debian's
binaries, started here in a temp dir on loopback TCP, fsync on). Written to
target/bench-ledger-postgres.json.
"""
import json, os, statistics, subprocess, sys, tempfile, time

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


class Postgres:
    """A private cluster in a temp dir, on a free loopback port; as root, run as `postgres`."""

    def __init__(self, work):
        import glob, shutil
        self.bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))[-1]
        self.dir = f"{work}/pg"
        os.makedirs(self.dir)
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            os.chmod(work, 0o711)
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run([f"{self.bin}/initdb", "-D", f"{self.dir}/data", "-U", "postgres", "-A", "trust",
                        "-E", "UTF8"], user=self.user, check=True, stdout=subprocess.DEVNULL)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [f"{self.bin}/postgres", "-D", f"{self.dir}/data", "-p", str(self.port), "-k", self.dir,
             "-c", "listen_addresses=127.0.0.1"],
            user=self.user, stdout=subprocess.DEVNULL, stderr=open(f"{work}/pg.log", "w"))
        for _ in range(600):
            if self.psql("postgres", "SELECT 1").returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise SystemExit("postgres did not start")
        self.psql("postgres", "CREATE ROLE hsm LOGIN")
        self.dbs = 0

    def psql(self, db, sql):
        return subprocess.run([f"{self.bin}/psql", "-X", "-q", "-U", "postgres", "-h", self.dir, "-p",
                               str(self.port), "-d", db, "-c", sql], capture_output=True, text=True)

    def new_db(self):
        self.dbs += 1
        name = f"bench{self.dbs}"
        assert self.psql("postgres", f"CREATE DATABASE {name} OWNER hsm").returncode == 0
        return f"postgres://hsm@127.0.0.1:{self.port}/{name}"

    def size(self, url):
        db = url.rsplit("/", 1)[1]
        p = subprocess.run([f"{self.bin}/psql", "-X", "-t", "-A", "-U", "postgres", "-h", self.dir, "-p",
                            str(self.port), "-d", db, "-c", "SELECT pg_database_size(current_database())"],
                           capture_output=True, text=True)
        return int(p.stdout.strip())

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def median(values):
    return statistics.median(values)


def compare_postgres(hsm, env, work):
    rows = 20_000 if QUICK else 200_000
    pg = Postgres(work)
    results = {"rows": rows, "sync": {}, "import": {}}
    try:
        ledgers = {"sqlite": lambda tag: f"sqlite:{work}/{tag}/ledger.sqlite3", "postgres": lambda tag: pg.new_db()}
        print(f"{'ledger':>9} {'fresh sync s':>12} {'unchanged s':>11} {'import rows/s':>13}", flush=True)
        for store, make in ledgers.items():
            sb = Sandbox(hsm)
            e = dict(env, HSM_SANDBOX_URL=sb.url, HSM_LEDGER=make(f"sync-{store}"))
            login(hsm, e)
            path = f"{work}/pg-sync-{store}.jsonl"
            rows_file(path, rows, f"P{store[0]}-")
            sync = [hsm, "contacts", "sync", path, "--env", "sandbox", "--concurrency", "16"]
            fresh = timed(sync, e)
            unchanged = median([timed(sync, e) for _ in range(3)])
            stats = sb.stats()
            assert stats["contacts_created"] == rows and stats["duplicate_external_ids"] == 0, stats
            sb.stop()
            results["sync"][store] = {"fresh_s": round(fresh, 2), "unchanged_s": round(unchanged, 2)}
            sb = Sandbox(hsm, "--latency-ms", "5")
            e = dict(env, HSM_SANDBOX_URL=sb.url, HSM_LEDGER=make(f"import-{store}"))
            login(hsm, e)
            path = f"{work}/pg-import-{store}.jsonl"
            rows_file(path, 10_000, f"Q{store[0]}-")
            seconds = timed([hsm, "contacts", "import", path, "--env", "sandbox", "--concurrency", "16"], e)
            sb.stop()
            results["import"][store] = {"rows": 10_000, "latency_ms": 5, "rows_per_s": round(10_000 / seconds, 1)}
            print(f"{store:>9} {fresh:>12.2f} {unchanged:>11.2f} {10_000 / seconds:>13.1f}", flush=True)
        s, p = results["sync"], results["import"]
        results["ratio_unchanged_sync"] = round(s["postgres"]["unchanged_s"] / s["sqlite"]["unchanged_s"], 2)
        results["ratio_import_time"] = round(p["sqlite"]["rows_per_s"] / p["postgres"]["rows_per_s"], 2)
        print(f"PostgreSQL / SQLite: unchanged sync {results['ratio_unchanged_sync']}x the time, "
              f"import {results['ratio_import_time']}x the time", flush=True)
    finally:
        pg.stop()
    with open(os.path.join(ROOT, "target", "bench-ledger-postgres.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("results: target/bench-ledger-postgres.json")


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "hsm"], cwd=ROOT, check=True)
    hsm = os.path.join(ROOT, "target", "release", "hsm")
    work = tempfile.mkdtemp(prefix="hsm-bench-ledger-")
    env = dict(os.environ, XDG_CONFIG_HOME=f"{work}/config", HSM_CREDENTIAL_STORE="file",
               HSM_CREDENTIALS_FILE=f"{work}/creds.json", HSM_STATE_DIR=f"{work}/state", NO_PROXY="*",
               HSM_BROWSER="curl -fsSL -o /dev/null")
    if "--postgres" in sys.argv:
        return compare_postgres(hsm, env, work)
    results = {"sync": [], "import": []}
    print(f"{'rows':>8} {'fresh s':>8} {'1% s':>7} {'1% req':>7} {'same s':>7} {'same req':>8} "
          f"{'dry-run s':>9} {'peak MiB':>8} {'B/row':>6}")
    for rows in ([] if "--import-only" in sys.argv else SIZES):
        r = sync_at(hsm, env, work, rows)
        results["sync"].append(r)
        peak = r["unchanged"]["peak_kib"]
        print(f"{rows:>8} {r['fresh']['seconds']:>8} {r['one_percent']['seconds']:>7} "
              f"{r['one_percent']['requests']:>7} {r['unchanged']['seconds']:>7} {r['unchanged']['requests']:>8} "
              f"{r['import_dry_run']['seconds']:>9} {(peak or 0) / 1024:>8.1f} {r['ledger_bytes_per_row']:>6}",
              flush=True)
    # Import throughput, interleaved with the client before the ledger (--baseline PATH) when given.
    baseline = sys.argv[sys.argv.index("--baseline") + 1] if "--baseline" in sys.argv else None
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    clients = [("ledger", hsm)] + ([("baseline", baseline)] if baseline else [])
    for latency in (5, 40):
        for round_ in range(rounds):
            # Alternate who goes first, so a drift of the machine's load favours neither.
            for name, binary in (clients if round_ % 2 == 0 else clients[::-1]):
                r = import_at(binary, env, work, latency, sandbox_hsm=hsm)
                r["client"] = name
                results["import"].append(r)
                print(f"import, {latency} ms latency, {name}: {r['rows_per_s']} rows/s", flush=True)
        medians = {name: median([r["rows_per_s"] for r in results["import"]
                                 if r["client"] == name and r["latency_ms"] == latency])
                   for name, _ in clients}
        line = ", ".join(f"{name} {m:.0f} rows/s" for name, m in medians.items())
        if baseline:
            line += f" ({100 * (medians['ledger'] / medians['baseline'] - 1):+.1f}%)"
        print(f"import, {latency} ms latency, median of {rounds}: {line}", flush=True)
    with open(os.path.join(ROOT, "target", "bench-ledger.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("results: target/bench-ledger.json")


if __name__ == "__main__":
    main()
