#!/usr/bin/env python3
"""hsm's shared etcd store against the file store: `hsm token print` (a fresh token: one read)
and `hsm token refresh` (local lock, etcd lease and lock, re-read, the token request, the fenced
write, release), each the median of N runs, against a 3-node etcd cluster on loopback ports.

Called by scripts/bench.py; standalone: scripts/bench_etcd.py [--quick] [PATH/TO/hsm]
(default target/release/hsm). Needs `etcd` (Debian: etcd-server); skipped without it.
"""
import base64, os, shutil, socket, statistics, subprocess, sys, tempfile, time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_cluster(work):
    """Three members on loopback ports; returns (endpoints, processes) once they have a leader."""
    nodes = [(f"n{i}", free_port(), free_port()) for i in range(1, 4)]
    initial = ",".join(f"{n}=http://127.0.0.1:{peer}" for n, _, peer in nodes)
    procs = []
    for name, client, peer in nodes:
        procs.append(subprocess.Popen(
            ["etcd", "--name", name, "--data-dir", f"{work}/{name}",
             "--listen-client-urls", f"http://127.0.0.1:{client}",
             "--advertise-client-urls", f"http://127.0.0.1:{client}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", initial, "--initial-cluster-token", f"bench-{os.getpid()}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    endpoints = [f"http://127.0.0.1:{client}" for _, client, _ in nodes]
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            req = urllib.request.Request(endpoints[0] + "/v3/kv/range", data=b'{"key":"AA=="}',
                                         headers={"Grpc-Metadata-hasleader": "true"})
            urllib.request.urlopen(req, timeout=1).read()
            return endpoints, procs
        except Exception:
            time.sleep(0.1)
    raise SystemExit("etcd cluster not ready within 30 s")


def median_ms(n, cmd, env):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
        if p.returncode != 0:
            raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return statistics.median(times) * 1000


def run(hsm, quick=False):
    """Returns {"print": {"file": ms, "etcd": ms}, "refresh": {...}}, or None without etcd."""
    if not shutil.which("etcd"):
        print("  etcd store: skipped (needs etcd: apt-get install etcd-server)")
        return None
    n = 10 if quick else 50
    work = tempfile.mkdtemp(prefix="hsm-bench-etcd-")
    endpoints, procs = start_cluster(work)
    sb = subprocess.Popen([hsm, "sandbox", "--port", "0", "--auto-approve"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = sb.stdout.readline().strip()
    base = dict(os.environ, XDG_CONFIG_HOME=f"{work}/config", HSM_STATE_DIR=f"{work}/state",
                NO_PROXY="*", HSM_BROWSER="curl -fsSL -o /dev/null", HSM_SANDBOX_URL=url)
    envs = {
        "file": dict(base, HSM_CREDENTIAL_STORE="file", HSM_CREDENTIALS_FILE=f"{work}/creds.json"),
        "etcd": dict(base, HSM_CREDENTIAL_STORE="etcd", HSM_ETCD_ENDPOINTS=",".join(endpoints),
                     HSM_STORE_KEY=base64.b64encode(os.urandom(32)).decode()),
    }
    results = {"print": {}, "refresh": {}}
    try:
        for store, env in envs.items():
            redirect = f"http://127.0.0.1:{free_port()}/callback"
            subprocess.run([hsm, "login", "--env", "sandbox", "--redirect-uri", redirect], env=env,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for what, args in (("print", ["token", "print"]), ("refresh", ["token", "refresh"])):
                ms = median_ms(n, [hsm, *args, "--env", "sandbox"], env)
                results[what][store] = ms
        for what in ("print", "refresh"):
            f, e = results[what]["file"], results[what]["etcd"]
            print(f"  hsm token {what:<8} file store {f:7.2f} ms   etcd (3 members) {e:7.2f} ms   "
                  f"x{e/f:5.2f}  (median of {n})")
    finally:
        sb.terminate()
        sb.wait()
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
    return results


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--quick"]
    hsm = args[0] if args else os.path.join(ROOT, "target", "release", "hsm")
    print("token print and token refresh, file store vs etcd:")
    run(hsm, "--quick" in sys.argv)
