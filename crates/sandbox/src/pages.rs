//! The sandbox's HTML: self-contained pages (inline CSS, no scripts, no external resources).
//! Everything echoed from a request goes through `escape`.

use crate::CLIENT_ID;

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f6f8;color:#1d2733;margin:0}\
main{max-width:32rem;margin:4rem auto;background:#fff;border-radius:8px;padding:2rem;\
box-shadow:0 1px 4px rgba(0,0,0,.15)}h1{font-size:1.3rem;margin-top:0}code{background:#eef1f4;\
padding:0 .25rem;border-radius:3px}label{display:block;margin:1rem 0 .25rem}\
input[type=email],input[type=text]{width:100%;padding:.5rem;box-sizing:border-box}\
.buttons{display:flex;gap:1rem;margin-top:1.5rem}button{padding:.6rem 1.4rem;font-size:1rem;\
border-radius:5px;border:1px solid #888;cursor:pointer}#approve{background:#0b6e4f;color:#fff;\
border-color:#0b6e4f}.note{color:#5b6773;font-size:.85rem}";

/// Escapes text for HTML content and quoted attribute values: `&`, `<`, `>`, `"` and `'`.
pub(crate) fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_quoted_attribute(text)
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        title = escape(title)
    )
}

/// The consent screen. `hidden` are the authorization parameters, carried through the form.
pub(crate) fn consent(hidden: &[(&str, &str)], scope: &str, default_agent: &str) -> String {
    let fields: String = hidden
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(name),
                escape(value)
            )
        })
        .collect();
    let body = format!(
        "<h1>Authorize <code>{client}</code></h1>\
         <p>The application <strong>{client}</strong> asks for access to your HealthSherpa for Medicare \
         account with the scope <code>{scope}</code> (Partner API v2: create, update and search your contacts).</p>\
         <form method=\"post\" action=\"/oauth/authorize\">{fields}\
         <label for=\"agent_email\">Agent email</label>\
         <input type=\"text\" id=\"agent_email\" name=\"agent_email\" value=\"{agent}\">\
         <p class=\"note\">The sandbox acts as this agent: contacts created with the token belong to them.</p>\
         <div class=\"buttons\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></div></form>\
         <p class=\"note\">hsm sandbox: a local emulator, not HealthSherpa.</p>",
        client = escape(CLIENT_ID),
        scope = escape(scope),
        agent = escape(default_agent),
    );
    page("Authorize application - hsm sandbox", &body)
}

/// An authorization error that must not be sent back to the redirect URI (RFC 6749 §4.1.2.1).
pub(crate) fn authorize_error(message: &str) -> String {
    let body = format!(
        "<h1>Authorization request refused</h1><p id=\"error\">{}</p>\
         <p class=\"note\">The sandbox knows one client, <code>{}</code>, whose redirect URI may be any \
         <code>http://</code> loopback address (127.0.0.1, [::1] or localhost).</p>",
        escape(message),
        escape(CLIENT_ID)
    );
    page("Authorization error - hsm sandbox", &body)
}

/// Where a contact's `redirect_url` leads.
pub(crate) fn quote(slug: &str) -> String {
    let body = format!(
        "<h1>Quotes</h1><p>In the real service this page shows Medicare plan quotes for contact \
         <code>{}</code>.</p>",
        escape(slug)
    );
    page("Quotes - hsm sandbox", &body)
}

/// What a load balancer in front of the API shows for a 5xx.
pub(crate) fn gateway_error(status: u16, reason: &str) -> String {
    format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n\
         <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
        reason = escape(reason)
    )
}

/// What a client sees when a proxy or an expired web session answers with a login form.
pub(crate) fn login() -> String {
    page(
        "Sign in - HealthSherpa",
        "<h1>Sign in</h1><form method=\"post\" action=\"/sessions\"><label>Email<input type=\"text\" name=\"email\"></label>\
         <label>Password<input type=\"password\" name=\"password\"></label>\
         <div class=\"buttons\"><button type=\"submit\">Sign in</button></div></form>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
    }

    #[test]
    fn consent_page_carries_parameters_escaped() {
        let html = consent(
            &[("state", "\"><script>")],
            "partner_api_v2",
            "agent@sandbox.test",
        );
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;\""));
        assert!(!html.contains("<script>"));
        assert!(html.contains("id=\"approve\"") && html.contains("id=\"deny\""));
    }
}
