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

/// HTML-escape text for the page. Written out rather than taken from a crate: five characters,
/// three strings on one page, and a crate (html-escape, v_htmlescape) would be a dependency to
/// review and ship for them.
fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn failure_text_is_escaped() {
        let p = super::failure("<script>x</script>");
        assert!(p.contains("&lt;script&gt;") && !p.contains("<script>"));
    }
}
