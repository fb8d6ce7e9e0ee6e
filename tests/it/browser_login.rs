//! A real headless Chromium completes `hsm login`, launched the way users' browsers are: via
//! `BROWSER`. The sandbox auto-approves, so the browser follows the redirect to hsm's
//! loopback listener and renders the page hsm answers with.

use crate::common::tools;
use crate::common::*;

#[test]
fn headless_chromium_launched_through_browser_completes_the_login() {
    use std::os::unix::fs::PermissionsExt;
    if !tools::present(&[&tools::CHROMIUM]) {
        return;
    }
    let sb = Sandbox::start(&["--auto-approve"]);
    let mut env = TestEnv::with_sandbox(&sb);
    let profile_dir = env.path("chromium-profile");
    let page = env.path("page.html");
    let script = env.path("browser.sh");
    write_file(
        &script,
        &format!(
            "#!/bin/sh\nexec /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
             --disable-quic --no-first-run --disable-background-networking --disable-component-update \
             --disable-sync --user-data-dir={} --dump-dom \"$1\" >{} 2>/dev/null\n",
            profile_dir.display(),
            page.display()
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set("BROWSER", &script.display().to_string());

    let run = LoginRun::start(&env, &["--timeout", "60"]);
    let (code, err, _) = run.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("from BROWSER"), "{err}");
    assert!(env.stored_record("sandbox/default").is_some());
    // The page Chromium rendered is hsm's success page, with no secret in it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let html = loop {
        let html = std::fs::read_to_string(&page).unwrap_or_default();
        if html.contains("</html>") || std::time::Instant::now() > deadline {
            break html;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(html.contains("Logged in"), "chromium showed: {html}");
    let rec = env.stored_record("sandbox/default").unwrap();
    assert!(!html.contains(rec["access_token"].as_str().unwrap()));
}
