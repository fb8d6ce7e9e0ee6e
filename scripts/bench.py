#!/usr/bin/env python3
"""hsm benchmarks: start-up, one authenticated call, token show, bulk import, memory, size,
and the shared etcd store against the file store (scripts/bench_etcd.py).

Builds the release binary, starts its sandbox, and compares hsm with curl doing the same
work in the same run. Reports medians and ratios; needs only python3, curl and cargo.
Usage: scripts/bench.py [--quick] [--sync]   (--quick: fewer repetitions, for a smoke run;
--sync: only the contacts sync benchmark)
"""
import json, os, platform, shutil, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = "--quick" in sys.argv
SYNC_ONLY = "--sync" in sys.argv
N_START = 30 if QUICK else 200
N_CALL = 10 if QUICK else 50
ROWS = 1_000 if QUICK else 10_000
LOOP_ROWS = 200 if QUICK else 1_000  # the sequential curl loop is slow: time a slice, report rows/s
CONCURRENCY = 16
LATENCY_MS = 5


def run(cmd, env=None, stdin=None):
    """Run once; return (seconds, stdout)."""
    start = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return elapsed, p.stdout


def peak_kib(cmd, env=None, stdin=None):
    """Peak RSS of one run, by GNU time (a fork of this Python process would report Python's
    own size: the kernel carries the high-water mark across exec). None without it."""
    gnu_time = "/usr/bin/time"
    if not os.path.exists(gnu_time):
        return None
    with tempfile.NamedTemporaryFile("r") as out:
        run([gnu_time, "-f", "%M", "-o", out.name, *cmd], env, stdin)
        return int(out.read().strip().splitlines()[-1])


def median_of(n, cmd, env=None):
    times = [run(cmd, env)[0] for _ in range(n)]
    return statistics.median(times), peak_kib(cmd, env)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sandbox:
    def __init__(self, hsm, *args):
        self.p = subprocess.Popen([hsm, "sandbox", "--port", "0", "--auto-approve", *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = self.p.stdout.readline().strip()

    def stats(self):
        out = subprocess.run(["curl", "-s", f"{self.url}/__sandbox/stats"], capture_output=True, text=True).stdout
        return json.loads(out)

    def stop(self):
        self.p.terminate()
        self.p.wait()


def rows_file(path, n, prefix):
    with open(path, "w") as f:
        for i in range(1, n + 1):
            f.write(json.dumps({"external_id": f"{prefix}{i}", "first_name": f"F{i}", "last_name": "L",
                                "birth_date": "1950-01-15", "zip": "94103"}) + "\n")


def sync_bench(hsm, env, work, results):
    """A nightly sync: ROWS rows of which 1% changed, against the sandbox with latency. What it
    costs is requests (about 1% of the rows, not all of them) and wall time."""
    print(f"contacts sync with {LATENCY_MS} ms latency per request, concurrency {CONCURRENCY}:")
    sb = Sandbox(hsm, "--latency-ms", str(LATENCY_MS))
    env = dict(env, HSM_SANDBOX_URL=sb.url)
    run([hsm, "login", "--env", "sandbox", "--redirect-uri", f"http://127.0.0.1:{free_port()}/callback"], env)
    rows = f"{work}/sync.jsonl"
    rows_file(rows, ROWS, "S")
    env = dict(env, HSM_LEDGER=f"sqlite:{work}/sync-ledger/ledger.sqlite3")
    sync = [hsm, "contacts", "sync", rows, "--env", "sandbox"]
    out = {}
    for name, edit in (("first", False), ("unchanged", False), ("one_percent", True)):
        if edit:
            with open(rows) as f:
                lines = f.readlines()
            for i in range(0, len(lines), 100):
                row = json.loads(lines[i])
                row["zip"] = "10001"
                lines[i] = json.dumps(row) + "\n"
            with open(rows, "w") as f:
                f.writelines(lines)
        before = sb.stats()["api_requests"]
        t, _ = run(sync, env)
        sent = sb.stats()["api_requests"] - before
        out[name] = {"seconds": t, "requests": sent}
        print(f"  {name.replace('_', ' '):<12} sync of {ROWS} rows: {t:.2f} s, {sent} requests")
    stats = sb.stats()
    assert stats["contacts_created"] == ROWS and stats["update_fields"] == ROWS // 100, stats
    results["sync"] = {"rows": ROWS, **out}
    sb.stop()


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    hsm = os.path.join(ROOT, "target", "release", "hsm")
    curl = shutil.which("curl") or sys.exit("curl is needed")
    work = tempfile.mkdtemp(prefix="hsm-bench-")
    env = dict(os.environ, XDG_CONFIG_HOME=f"{work}/config", HSM_STATE_DIR=f"{work}/state",
               HSM_CREDENTIAL_STORE="file", HSM_CREDENTIALS_FILE=f"{work}/creds.json",
               NO_PROXY="*", HSM_BROWSER="curl -fsSL -o /dev/null")
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
               "curl": subprocess.run([curl, "--version"], capture_output=True, text=True).stdout.split("\n")[0]}
    mib = lambda kib: f"{kib/1024:6.1f} MiB" if kib else "   n/a"
    line = lambda name, t, base, rss: print(f"  {name:<44} {t*1000:9.2f} ms  x{t/base:5.2f}  {mib(rss)}")

    print(f"hsm benchmarks ({'quick' if QUICK else 'full'}); {results['machine']}")
    if SYNC_ONLY:
        sync_bench(hsm, env, work, results)
        shutil.rmtree(work, ignore_errors=True)
        return
    size = os.path.getsize(hsm)
    results["binary_bytes"] = size
    print(f"release binary: {size/1e6:.2f} MB")

    print("start-up (median of %d):" % N_START)
    base, base_rss = median_of(N_START, [curl, "--version"])
    line("curl --version", base, base, base_rss)
    for args in (["--version"], ["--help"]):
        t, rss = median_of(N_START, [hsm, *args])
        line("hsm " + " ".join(args), t, base, rss)
        results["startup_" + args[0].strip("-")] = {"ms": t * 1000, "ratio": t / base, "rss_kib": rss}
    results["startup_curl_ms"] = base * 1000

    sb = Sandbox(hsm)
    env["HSM_SANDBOX_URL"] = sb.url
    run([hsm, "login", "--env", "sandbox", "--redirect-uri", f"http://127.0.0.1:{free_port()}/callback"], env)
    _, token = run([hsm, "token", "print", "--env", "sandbox"], env)
    token = token.decode().strip()

    print("one contacts create against the sandbox (median of %d):" % N_CALL)
    body = json.dumps({"contact": {"external_id": "C", "first_name": "A", "last_name": "B"}})
    curl_create = [curl, "-sf", "-o", "/dev/null", "-X", "POST", f"{sb.url}/v2/contacts",
                   "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json", "-d", body]
    base, base_rss = median_of(N_CALL, curl_create)
    line("curl POST /v2/contacts", base, base, base_rss)
    t, rss = median_of(N_CALL, [hsm, "contacts", "create", "--env", "sandbox", "--external-id", "C",
                                "--first-name", "A", "--last-name", "B"], env)
    line("hsm contacts create (file store read)", t, base, rss)
    results["create"] = {"curl_ms": base * 1000, "hsm_ms": t * 1000, "ratio": t / base, "rss_kib": rss}

    print("hsm token show (median of %d):" % N_CALL)
    t, rss = median_of(N_CALL, [hsm, "token", "show", "--env", "sandbox"], env)
    line("file store", t, results["startup_curl_ms"] / 1000, rss)
    results["token_show_file_ms"] = t * 1000
    kc = keychain_env(env, work)
    if kc:
        kenv, stop = kc
        run([hsm, "login", "--env", "sandbox", "--redirect-uri", f"http://127.0.0.1:{free_port()}/callback"], kenv)
        t, rss = median_of(N_CALL, [hsm, "token", "show", "--env", "sandbox"], kenv)
        line("keychain (gnome-keyring over D-Bus)", t, results["startup_curl_ms"] / 1000, rss)
        results["token_show_keychain_ms"] = t * 1000
        stop()
    else:
        print("  keychain: skipped (needs dbus-run-session and gnome-keyring-daemon)")
    sb.stop()

    print(f"import with {LATENCY_MS} ms latency per request, concurrency {CONCURRENCY}:")
    sb = Sandbox(hsm, "--latency-ms", str(LATENCY_MS))
    env["HSM_SANDBOX_URL"] = sb.url
    run([hsm, "login", "--env", "sandbox", "--redirect-uri", f"http://127.0.0.1:{free_port()}/callback"], env)
    _, token = run([hsm, "token", "print", "--env", "sandbox"], env)
    token = token.decode().strip()
    rows = f"{work}/rows.jsonl"
    rows_file(rows, ROWS, "R")
    t, _ = run([hsm, "contacts", "import", rows, "--env", "sandbox", "--concurrency", str(CONCURRENCY),
                "--report", f"{work}/r1.jsonl"], env)
    hsm_rate = ROWS / t
    print(f"  hsm contacts import {ROWS} rows: {t:.2f} s, {hsm_rate:.0f} rows/s")
    loop_rows = f"{work}/loop.jsonl"
    rows_file(loop_rows, LOOP_ROWS, "L")
    script = ('while IFS= read -r line; do curl -sf -o /dev/null -X POST "$URL/v2/contacts" '
              '-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d "{\\"contact\\": $line}"; done')
    cenv = dict(env, URL=sb.url, TOKEN=token)
    with open(loop_rows) as f:
        t_loop, _ = run(["bash", "-c", script], cenv, stdin=f)
    loop_rate = LOOP_ROWS / t_loop
    print(f"  shell loop of curl, {LOOP_ROWS} rows: {t_loop:.2f} s, {loop_rate:.0f} rows/s (hsm x{hsm_rate/loop_rate:.1f})")
    xrows = f"{work}/xargs.jsonl"
    rows_file(xrows, ROWS, "X")
    xscript = ('tr "\\n" "\\0" | xargs -0 -P %d -I{} curl -sf -o /dev/null -X POST "$URL/v2/contacts" '
               '-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d "{\\"contact\\": {}}"') % CONCURRENCY
    with open(xrows) as f:
        t_x, _ = run(["bash", "-c", xscript], cenv, stdin=f)
    x_rate = ROWS / t_x
    print(f"  xargs -P {CONCURRENCY} curl, {ROWS} rows: {t_x:.2f} s, {x_rate:.0f} rows/s (hsm x{hsm_rate/x_rate:.2f})")
    stats = sb.stats()
    expected = ROWS + LOOP_ROWS + ROWS
    assert stats["contacts_created"] == expected, f"sandbox created {stats['contacts_created']}, expected {expected}"
    results["import"] = {"rows": ROWS, "hsm_rows_per_s": hsm_rate, "loop_rows_per_s": loop_rate,
                         "xargs_rows_per_s": x_rate, "hsm_vs_loop": hsm_rate / loop_rate, "hsm_vs_xargs": hsm_rate / x_rate}
    sb.stop()

    sync_bench(hsm, env, work, results)

    print("import peak memory against the number of rows (no latency):")
    sb = Sandbox(hsm)
    env["HSM_SANDBOX_URL"] = sb.url
    run([hsm, "login", "--env", "sandbox", "--redirect-uri", f"http://127.0.0.1:{free_port()}/callback"], env)
    mem = {}
    for n in ((1_000, 10_000) if QUICK else (10_000, 100_000)):
        path = f"{work}/mem{n}.jsonl"
        rows_file(path, n, f"M{n}-")
        rss = peak_kib([hsm, "contacts", "import", path, "--env", "sandbox", "--report", f"{work}/m{n}.jsonl"], env)
        if rss is None:
            print("  skipped: needs GNU time (/usr/bin/time)")
            break
        mem[n] = rss
        print(f"  {n:>7} rows: {rss/1024:.1f} MiB peak")
    sb.stop()
    if len(mem) == 2:
        small, large = sorted(mem)
        results["import_memory_kib"] = mem
        results["import_memory_growth"] = mem[large] / mem[small] - 1
        print(f"  growth from {small} to {large} rows: {results['import_memory_growth']*100:+.1f}%")
    shutil.rmtree(work, ignore_errors=True)
    print("token print and token refresh, file store vs etcd:")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_etcd
    results["etcd"] = bench_etcd.run(hsm, QUICK)
    with open(os.path.join(ROOT, "target", "bench-results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("results: target/bench-results.json")


def keychain_env(env, work):
    """A private unlocked gnome-keyring on its own D-Bus session, as the tests use."""
    if not (shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon")):
        return None
    home = f"{work}/kc-home"
    os.makedirs(f"{home}/run", exist_ok=True)
    script = ('printf %s pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; '
              'eval "$(gnome-keyring-daemon --start --components=secrets 2>/dev/null)"; '
              'echo "$DBUS_SESSION_BUS_ADDRESS"; exec sleep 600')
    p = subprocess.Popen(["dbus-run-session", "--", "sh", "-c", script], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, start_new_session=True,
                         env=dict(os.environ, HOME=home, XDG_RUNTIME_DIR=f"{home}/run"))
    bus = p.stdout.readline().strip()
    kenv = dict(env, DBUS_SESSION_BUS_ADDRESS=bus)
    kenv.pop("HSM_CREDENTIAL_STORE")
    return kenv, lambda: (os.killpg(p.pid, 9), p.wait())


if __name__ == "__main__":
    main()
