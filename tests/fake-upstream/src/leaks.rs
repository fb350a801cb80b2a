//! What leak tests look for: distinctive random secrets, and every encoding a secret may be
//! sent or echoed in, written here independently of the runtime's own redaction, so core's and
//! the engine's tests scan errors, answers and logs with the same eyes.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::Value;

/// A distinctive secret for credential field `field`, and its random core. The value holds
/// characters that some encoding changes: `+/=` (base64 look-alikes, forms), `&%` and a space
/// (forms, percent-encoding), `"\<>` (JSON, HTML-safe JSON), `é` (ASCII-only escapes).
pub fn secret(field: &str) -> (String, String) {
    let core: String = uuid::Uuid::new_v4().simple().to_string().chars().take(20).collect();
    let core = format!("Sx{core}");
    // An HTML-escaped character within the first characters too: a start shorter than the
    // runtime's partial-secret masking takes must be masked in its encoded form.
    (format!("S&'{core}+/=&\"\\<>%~ é.{field}"), core)
}

/// The names of the encodings [`encodings`] returns, in order.
pub const ENCODINGS: [&str; 13] = [
    "raw",
    "base64",
    "base64 without padding",
    "base64url",
    "base64url without padding",
    "form-encoded",
    "percent-encoded",
    "percent-encoded (lower-case hex)",
    "JSON-escaped",
    "JSON-escaped, ASCII only",
    "JSON-escaped twice",
    "hex",
    "HTML-escaped",
];

fn json_inside(s: &str) -> String {
    let q = Value::String(s.to_string()).to_string();
    q[1..q.len() - 1].to_string()
}

/// `%XX` for every byte but ASCII letters and digits.
fn percent(value: &str, lower: bool) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The bytes of `value` in lower-case hex.
pub fn hex(value: &str) -> String {
    value.bytes().map(|b| format!("{b:02x}")).collect()
}

/// `value` as an HTML page shows it: `&<>"'` as named entities.
pub fn html_escaped(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Every encoding `value` may be sent or echoed in (see [`ENCODINGS`]).
pub fn encodings(value: &str) -> [String; 13] {
    let b = value.as_bytes();
    let ascii: String = json_inside(value)
        .chars()
        .map(|c| if c.is_ascii() { c.to_string() } else { format!("\\u{:04x}", c as u32) })
        .collect();
    [
        value.to_string(),
        STANDARD.encode(b),
        STANDARD_NO_PAD.encode(b),
        URL_SAFE.encode(b),
        URL_SAFE_NO_PAD.encode(b),
        url::form_urlencoded::byte_serialize(b).collect(),
        percent(value, false),
        percent(value, true),
        json_inside(value),
        ascii,
        json_inside(&json_inside(value)),
        hex(value),
        html_escaped(value),
    ]
}

/// The secrets one run must keep: full values (scanned in every encoding) and random cores
/// (scanned as they are: a part of a secret is a leak too).
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub values: Vec<String>,
    pub cores: Vec<String>,
}

impl Watch {
    /// Watches `value`.
    pub fn add(&mut self, value: &str) {
        if !self.values.iter().any(|v| v == value) {
            self.values.push(value.to_string());
        }
    }

    /// Watches a new [`secret`] for `field` and returns it.
    pub fn new_secret(&mut self, field: &str) -> String {
        let (value, core) = secret(field);
        self.add(&value);
        self.cores.push(core);
        value
    }

    /// Watches `a:b` for every ordered pair of watched values: Basic headers (`user:password`,
    /// OAuth client auth) send such composites base64-encoded.
    pub fn add_pairs(&mut self) {
        let base = self.values.clone();
        for a in &base {
            for b in &base {
                if a != b {
                    self.add(&format!("{a}:{b}"));
                }
            }
        }
    }

    /// Adds everything `other` watches.
    pub fn extend(&mut self, other: &Watch) {
        other.values.iter().for_each(|v| self.add(v));
        self.cores.extend(other.cores.iter().cloned());
    }

    /// Every leak in `text`, described.
    pub fn leaks(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for v in &self.values {
            for (name, form) in ENCODINGS.iter().zip(encodings(v)) {
                if form.len() >= 4 && text.contains(&form) {
                    out.push(format!("{name} form of {v:?}"));
                }
            }
        }
        for c in &self.cores {
            if text.contains(c.as_str()) {
                out.push(format!("part of a secret ({c})"));
            }
        }
        out
    }
}

/// A fresh random secret in every field of `scheme` but those in `skip`, each watched in
/// `watch` with what the scheme's mapping derives from them (`${email}/token`) and the `a:b`
/// pairs Basic auth sends.
pub fn random_credentials(
    scheme: &switchboard_core::spec::AuthScheme,
    skip: &[&str],
    watch: &mut Watch,
) -> serde_json::Map<String, Value> {
    let mut local = Watch::default();
    let mut creds = serde_json::Map::new();
    for f in scheme.fields.iter().filter(|f| !skip.contains(&f.name.as_str())) {
        creds.insert(f.name.clone(), Value::String(local.new_secret(&f.name)));
    }
    // A service account key must be one (JSON with an RSA key) for the handle to be made: the
    // test key pair's private key, random secrets in the other fields, all watched.
    let key_field = scheme
        .mapping
        .get(switchboard_core::auth::SERVICE_ACCOUNT_INPUT)
        .and_then(|t| t.strip_prefix("${").and_then(|t| t.strip_suffix('}')));
    if let Some(field) = key_field.filter(|f| creds.contains_key(*f)) {
        let pem = crate::generic::TEST_SERVICE_ACCOUNT_PEM;
        let key = serde_json::json!({
            "type": "service_account",
            "private_key_id": local.new_secret("private_key_id"),
            "private_key": pem,
            "client_email": local.new_secret("client_email"),
        })
        .to_string();
        local.add(&key);
        local.add(pem);
        pem.lines().filter(|l| l.len() >= 16 && !l.starts_with("-----")).for_each(|l| local.add(l));
        creds.insert(field.to_string(), Value::String(key));
    }
    // What the mapping derives from a secret is secret; a literal input (Freshdesk's password
    // `X`) is not, and its 4-character base64 form turns up by chance in binary files.
    let secret = |v: &str| creds.values().filter_map(Value::as_str).any(|s| v.contains(s));
    for input in scheme.mapping.keys() {
        if let Some(v) = scheme.render_input(input, &creds).filter(|v| secret(v)) {
            local.add(&v);
        }
    }
    // The Basic pair with a literal half (`KEY:X`) is a secret all the same.
    for (a, b) in [("username", "password"), ("client_id", "client_secret")] {
        if let (Some(a), Some(b)) = (scheme.render_input(a, &creds), scheme.render_input(b, &creds)) {
            if secret(&a) || secret(&b) {
                local.add(&format!("{a}:{b}"));
            }
        }
    }
    local.add_pairs();
    watch.extend(&local);
    creds
}

/// Credentials for `scheme` (an OAuth option) that the fake's token endpoint accepts: its
/// client and initial refresh token, put in whichever fields the scheme maps to `client_id`,
/// `client_secret` and `refresh_token` (`lwa_app_id` for Amazon), and a fresh secret in every
/// other required field (`account_id`), each watched. No access token: the first call refreshes.
pub fn refresh_credentials(
    scheme: &switchboard_core::spec::AuthScheme,
    watch: &mut Watch,
) -> serde_json::Map<String, Value> {
    let mut creds = serde_json::Map::new();
    for (input, value) in [
        ("client_id", crate::creds::OAUTH_CLIENT_ID),
        ("client_secret", crate::creds::OAUTH_CLIENT_SECRET),
        ("refresh_token", crate::creds::OAUTH_INITIAL_REFRESH_TOKEN),
    ] {
        // `${field}` in the mapping names the field; without a mapping the input is the field.
        let field = scheme
            .mapping
            .get(input)
            .and_then(|t| t.strip_prefix("${").and_then(|t| t.strip_suffix('}')))
            .unwrap_or(input);
        creds.insert(field.to_string(), Value::String(value.to_string()));
        watch.add(value);
    }
    for field in scheme.required_fields() {
        if field != "access_token" && !creds.contains_key(field) {
            let value = watch.new_secret(field);
            creds.insert(field.to_string(), Value::String(value));
        }
    }
    creds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_of_a_secret_is_seen() {
        let mut w = Watch::default();
        let s = w.new_secret("api_key");
        let forms = encodings(&s);
        assert_eq!(forms.iter().collect::<std::collections::HashSet<_>>().len(), ENCODINGS.len());
        for f in &forms {
            assert!(!w.leaks(&format!("x {f} y")).is_empty(), "{f}");
        }
        assert!(w.leaks("nothing to see").is_empty());
        assert_eq!(percent("a b/é", true), "a%20b%2f%c3%a9");
    }
}
