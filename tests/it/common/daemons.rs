//! Daemons a test binary starts (etcd, PostgreSQL): spawned by one thread that lives as long as
//! the test binary, with PR_SET_PDEATHSIG, so if the binary dies, so do they; a normal exit
//! kills them in `atexit` and removes their directories.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock, mpsc};

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
            // Keep the thread (the children's parent for PDEATHSIG) alive for good.
            loop {
                std::thread::park();
            }
        });
        unsafe { libc::atexit(kill_all) };
        Mutex::new(tx)
    })
}

static PIDS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

extern "C" fn kill_all() {
    for pid in PIDS.lock().map(|p| p.clone()).unwrap_or_default() {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    for dir in DIRS.lock().map(|d| d.clone()).unwrap_or_default() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Spawn `cmd` to die with this test binary. A `pre_exec` the caller set runs first (e.g. a
/// change of user, which would clear the death signal set before it).
pub fn spawn_daemon(mut cmd: Command, what: &str) -> Child {
    use std::os::unix::process::CommandExt;
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    spawner().lock().unwrap().send((cmd, tx)).unwrap();
    let child = rx
        .recv()
        .unwrap()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    PIDS.lock().unwrap().push(child.id());
    child
}

/// Remove `dir` when the test binary exits.
pub fn remove_at_exit(dir: PathBuf) {
    DIRS.lock().unwrap().push(dir);
}
