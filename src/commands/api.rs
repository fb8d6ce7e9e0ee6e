//! `hsm api PATH`: any endpoint, as `gh api` does it. The request is built from `-X`, `-f`,
//! `--input` and `-H`; the answer's body goes to stdout as it came, and the exit code follows
//! its status (2xx 0, 401 4, other 4xx 3, 5xx 5).

use std::io::Read;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::api::{Api, ApiError, RawRequest, RawResponse};
use crate::cli::ApiArgs;
use crate::error::{CliError, Exit, Result};
use crate::output::Printer;
use crate::settings::Selection;

/// The most `--input` reads: the API takes far smaller bodies.
const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

pub async fn run(global: &Selection, args: ApiArgs, printer: Printer) -> Result<()> {
    let headers = parse_headers(&args.headers)?;
    let body = request_body(&args)?;
    let method = method_for(
        args.method.as_deref(),
        body.is_some() || !args.fields.is_empty(),
    )?;
    let settings = crate::select::settings_for_session(global, printer)?;
    let api = Api::connect(&settings, printer).await?;
    let mut url = api.url_for(&args.path).map_err(ApiError::into_cli)?;
    let mut body = body;
    if !args.fields.is_empty() {
        if method == Method::GET || method == Method::HEAD {
            let mut query = url.query_pairs_mut();
            for (key, value) in split_fields(&args.fields)? {
                query.append_pair(&key, &value);
            }
        } else {
            body = Some(Bytes::from(fields_body(&args.fields)?.to_string()));
        }
    }
    let mut headers = headers;
    if body.is_some() && !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if !headers.contains_key(header::ACCEPT) {
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    }
    let request = RawRequest {
        method,
        url,
        headers,
        body,
    };
    let answer = api.raw(&request).await.map_err(ApiError::into_cli)?;
    print_answer(&answer, args.include, printer);
    outcome(&answer)
}

/// `-X`, else GET, or POST when there is a body (as `gh api`).
fn method_for(explicit: Option<&str>, has_body: bool) -> Result<Method> {
    match explicit {
        Some(m) => {
            let upper = m.trim().to_ascii_uppercase();
            Method::from_bytes(upper.as_bytes())
                .ok()
                .filter(|_| !upper.is_empty() && upper.bytes().all(|b| b.is_ascii_alphabetic()))
                .ok_or_else(|| CliError::usage(format!("invalid method `{m}`")))
        }
        None if has_body => Ok(Method::POST),
        None => Ok(Method::GET),
    }
}

/// Headers hsm itself sets, or that describe the connection, cannot be given.
const RESERVED: &[&str] = &[
    "authorization",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "proxy-authorization",
];

/// `Name: value` each; a name that is not an HTTP token, or a value with a line break or a
/// control character, is refused (no header injection).
fn parse_headers(given: &[String]) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for h in given {
        let Some((name, value)) = h.split_once(':') else {
            return Err(CliError::usage(format!("-H `{h}`: expected 'Name: value'")));
        };
        let name = name.trim();
        let value = value.trim();
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(CliError::usage(format!(
                "-H {name}: the value holds a line break or a control character"
            )));
        }
        let parsed = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| CliError::usage(format!("-H: `{name}` is not a valid header name")))?;
        if RESERVED.contains(&parsed.as_str()) {
            return Err(CliError::usage(format!(
                "-H {name}: hsm sets this header itself"
            )));
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| CliError::usage(format!("-H {name}: invalid value")))?;
        map.append(parsed, value);
    }
    Ok(map)
}

/// `--input FILE|-`: the body as is, bounded.
fn request_body(args: &ApiArgs) -> Result<Option<Bytes>> {
    let Some(spec) = &args.input else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    let read = if spec == "-" {
        std::io::stdin()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(spec).and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| {
        let err = CliError::usage(format!("--input {spec}: {e}"));
        match spec.strip_prefix('@') {
            // curl's and `--data`'s `@FILE` where gh's convention is the bare name.
            Some(path) if e.kind() == std::io::ErrorKind::NotFound => err.with_hint(format!(
                "--input takes the file name as is (as gh api does): --input {path}"
            )),
            _ => err,
        }
    })?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(CliError::usage(format!(
            "--input {spec}: larger than {} MiB",
            MAX_INPUT_BYTES / (1024 * 1024)
        )));
    }
    Ok(Some(Bytes::from(bytes)))
}

fn split_fields(fields: &[String]) -> Result<Vec<(String, String)>> {
    fields
        .iter()
        .map(|f| match f.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(CliError::usage(format!(
                "-f: expected KEY=VALUE, got `{}`",
                f.split('=').next().unwrap_or("")
            ))),
        })
        .collect()
}

/// `-f` fields as one JSON object: `a=1` is `{"a": "1"}`, `contact[first_name]=J` is
/// `{"contact": {"first_name": "J"}}`, `tags[]=x` appends to an array.
fn fields_body(fields: &[String]) -> Result<Value> {
    let mut root = Value::Object(Map::new());
    for (key, value) in split_fields(fields)? {
        let path = key_path(&key)?;
        insert(&mut root, &path, value)
            .map_err(|why| CliError::usage(format!("-f {key}: {why}")))?;
    }
    Ok(root)
}

/// `a[b][c]` as ["a", "b", "c"]; `a[]` ends with "" (append).
fn key_path(key: &str) -> Result<Vec<String>> {
    let bad = || {
        CliError::usage(format!(
            "-f: invalid key `{key}` (use name or name[key][...])"
        ))
    };
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return Err(bad());
    }
    let mut path = vec![head.to_string()];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(bad)?;
        let end = inner.find(']').ok_or_else(bad)?;
        path.push(inner[..end].to_string());
        rest = &inner[end + 1..];
    }
    if path[..path.len() - 1].iter().any(String::is_empty) {
        return Err(bad());
    }
    Ok(path)
}

fn insert(node: &mut Value, path: &[String], value: String) -> std::result::Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty key")?;
    if first.is_empty() {
        let Value::Array(items) = node else {
            return Err("`[]` used on a key that holds an object".into());
        };
        items.push(Value::String(value));
        return Ok(());
    }
    let Value::Object(map) = node else {
        return Err("a key that holds a value is used as an object".into());
    };
    if rest.is_empty() {
        map.insert(first.clone(), Value::String(value));
        return Ok(());
    }
    let child = map.entry(first.clone()).or_insert_with(|| {
        if rest[0].is_empty() {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        }
    });
    insert(child, rest, value)
}

fn print_answer(answer: &RawResponse, include: bool, printer: Printer) {
    let mut out = Vec::new();
    if include {
        let status = answer.status;
        out.extend_from_slice(
            format!(
                "{:?} {} {}\r\n",
                answer.version,
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .as_bytes(),
        );
        for (name, value) in &answer.headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&answer.body);
    printer.result_bytes(&out);
}

/// The exit code of the answer's status, with the API's own message on stderr: 401 is 4,
/// any other 4xx (429 included) 3, 5xx 5.
fn outcome(answer: &RawResponse) -> Result<()> {
    let status = answer.status.as_u16();
    if answer.status.is_success() {
        return Ok(());
    }
    let parsed: Option<Value> = serde_json::from_slice(&answer.body).ok();
    let err = ApiError::from_status(status, parsed.as_ref(), &answer.body, None).into_cli();
    let exit = match status {
        401 => Exit::AuthRequired,
        400..=499 => Exit::ApiRefused,
        500..=599 => Exit::Network,
        _ => {
            return Err(CliError::api(format!(
                "the API answered HTTP {status}, which hsm api does not follow"
            )));
        }
    };
    let hint = if exit == Exit::Network {
        None
    } else {
        err.hint
    };
    Err(CliError {
        exit,
        message: err.message,
        hint,
        causes: err.causes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nested_fields_build_one_object() {
        let body = fields_body(&strings(&[
            "contact[first_name]=John",
            "contact[last_name]=Doe",
            "contact[notes][]=a",
            "contact[notes][]=b=c",
            "top=1",
        ]))
        .unwrap();
        assert_eq!(
            body,
            json!({"contact": {"first_name": "John", "last_name": "Doe", "notes": ["a", "b=c"]}, "top": "1"})
        );
        for bad in ["=x", "a[b=1", "[a]=1", "a[]x=1", "noequals", "a[][b]=1"] {
            assert!(fields_body(&strings(&[bad])).is_err(), "{bad}");
        }
        assert!(fields_body(&strings(&["a=1", "a[b]=2"])).is_err());
    }

    #[test]
    fn headers_are_checked() {
        let h = parse_headers(&strings(&["X-Trace: abc", "Accept: text/plain"])).unwrap();
        assert_eq!(h["x-trace"], "abc");
        for bad in [
            "X-A: b\r\nX-Evil: 1",
            "Bad Name: x",
            "nocolon",
            "Authorization: Bearer x",
            "Host: evil.example",
        ] {
            assert!(parse_headers(&strings(&[bad])).is_err(), "{bad}");
        }
    }

    #[test]
    fn methods_default_as_gh() {
        assert_eq!(method_for(None, false).unwrap(), Method::GET);
        assert_eq!(method_for(None, true).unwrap(), Method::POST);
        assert_eq!(method_for(Some("patch"), false).unwrap(), Method::PATCH);
        assert!(method_for(Some("GE T"), false).is_err());
        assert!(method_for(Some(""), false).is_err());
    }
}
