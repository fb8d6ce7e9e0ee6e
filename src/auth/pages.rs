//! The page the browser shows after the redirect: self-contained, honest about the outcome,
//! and free of secrets.

pub fn success(env: &str, profile: &str) -> String {
    page(
        "Logged in",
        &format!(
            "hsm is logged in to <b>{}</b> (profile <b>{}</b>). You can close this tab and return to the terminal.",
            escape(env),
            escape(profile)
        ),
        true,
    )
}

pub fn failure(message: &str) -> String {
    page(
        "Login failed",
        &format!(
            "{}<br>Return to the terminal for details; nothing was stored.",
            escape(message)
        ),
        false,
    )
}

fn page(title: &str, body: &str, ok: bool) -> String {
    let colour = if ok { "#1a7f37" } else { "#cf222e" };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>hsm: {title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#1f2328}}\
         h1{{color:{colour};font-size:1.6em}}</style></head>\
         <body><h1>{title}</h1><p>{body}</p></body></html>"
    )
}

/// HTML-escape text for the page (the same crate the sandbox's pages use).
fn escape(s: &str) -> String {
    html_escape::encode_quoted_attribute(s).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn failure_text_is_escaped() {
        let p = super::failure("<script>x</script>");
        assert!(p.contains("&lt;script&gt;") && !p.contains("<script>"));
    }
}
