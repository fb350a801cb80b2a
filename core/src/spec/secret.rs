//! Which credential fields are secrets. A spec says so per field (`secret: true|false` in our
//! format, `airbyte_secret` in the reference's; see `load.rs`); where it says nothing, the rule
//! here decides from the field's name. The rule leans to secret: a field is shown in clear only
//! when its name plainly names an identifier (a user name, an email address, a domain, an
//! account or client id, a region...) and holds no word of a secret (`key`, `token`,
//! `secret`, `password`...). Forms (the engine's auth widget) mask what is secret and show the
//! rest, so the decision is made once, here, and travels with the templates.

/// Words that make a field secret wherever they appear in its name (`api_key`,
/// `access_key_id`, `client_secret`, `bot_key`).
const SECRET_WORDS: &[&str] = &[
    "secret",
    "token",
    "password",
    "passwd",
    "passphrase",
    "key",
    "apikey",
    "credential",
    "credentials",
    "private",
    "pin",
    "signature",
    "cert",
    "certificate",
    "cookie",
    "session",
    "otp",
    "pat",
    "auth",
];

/// Whole names of identifiers: what a person types to say who or where, not to prove it.
const IDENTIFIER_NAMES: &[&str] = &[
    "user",
    "username",
    "user_name",
    "login",
    "email",
    "email_address",
    "domain",
    "subdomain",
    "site",
    "region",
    "host",
    "hostname",
    "instance_url",
    "base_url",
    "shop",
    "store",
    "account",
];

/// Last words of identifier names (`account_id`, `account_sid`, `lwa_app_id`, `admin_email`,
/// `zendesk_subdomain`, `aws_region`).
const IDENTIFIER_LAST_WORDS: &[&str] =
    &["id", "sid", "email", "username", "user", "login", "domain", "subdomain", "region", "hostname"];

/// Whether a credential field named `name` is a secret when its spec does not say: true unless
/// the name is plainly an identifier (see the module text). `username`, `email`, `subdomain`,
/// `account_id`, `client_id` and `region` are not secrets; `api_key`, `password`,
/// `refresh_token`, `client_secret`, `access_key_id` and any name not recognised are.
pub fn credential_is_secret(name: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    if words.is_empty() || words.iter().any(|w| SECRET_WORDS.contains(w)) {
        return true;
    }
    let identifier = IDENTIFIER_NAMES.contains(&words.join("_").as_str())
        || words.last().is_some_and(|w| IDENTIFIER_LAST_WORDS.contains(w));
    !identifier
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_spec;

    #[test]
    fn identifiers_are_shown_and_everything_else_is_secret() {
        for clear in [
            "username",
            "email",
            "Email",
            "domain",
            "subdomain",
            "region",
            "account_id",
            "account_sid",
            "client_id",
            "login_customer_id",
            "lwa_app_id",
            "instance_url",
            "admin-email",
            "site",
        ] {
            assert!(!credential_is_secret(clear), "{clear} is an identifier");
        }
        for secret in [
            "password",
            "api_key",
            "token",
            "access_token",
            "refresh_token",
            "client_secret",
            "personal_access_token",
            "access_key_id",
            "access_key_secret",
            "bot_key",
            "credentials_json",
            "developer_token",
            "private_app_token",
            "auth_id",
            "webhook_url",
            "something_new",
            "",
        ] {
            assert!(credential_is_secret(secret), "{secret:?} is a secret");
        }
    }

    const HEAD: &str = r##"
openapi: 3.1.0
info: {title: T, version: "1", x-connector-name: t, x-connector-definition-id: 00000000-0000-0000-0000-00000000000a}
servers: [{url: "https://api.example.com"}]
paths:
  /things:
    get: {x-entity: things, x-action: list, responses: {"200": {description: ok}}}
"##;

    fn fields(auth: &str) -> crate::Result<Vec<(String, bool)>> {
        let s = parse_spec("t.yaml", &format!("{HEAD}{auth}"))?;
        Ok(s.auth_schemes.iter().flat_map(|a| a.fields.iter().map(|f| (f.name.clone(), f.secret))).collect())
    }

    #[test]
    fn a_spec_says_which_fields_are_secret_and_the_rule_fills_the_rest() -> crate::Result<()> {
        // The reference format's spelling (`x-airbyte-auth-config`, `airbyte_secret`) and ours
        // (`secret`) side by side.
        let got = fields(
            r##"
components:
  securitySchemes:
    basic:
      type: http
      scheme: basic
      x-airbyte-auth-config:
        properties:
          username: {type: string}
          password: {type: string}
          tenant_token: {type: string, secret: false}
          email: {type: string, airbyte_secret: true}
          pin_code: {type: string, airbyte_secret: false, secret: false}
        auth_mapping: {username: "${username}", password: "${password}"}
"##,
        )?;
        let want =
            [("username", false), ("password", true), ("tenant_token", false), ("email", true), ("pin_code", false)];
        assert_eq!(got, want.map(|(n, s)| (n.to_string(), s)).to_vec());
        // A scheme without an auth config gets the rule's answer for its default fields.
        let got = fields(
            r##"
components:
  securitySchemes:
    o:
      type: oauth2
      flows:
        authorizationCode: {authorizationUrl: "https://a.example/auth", tokenUrl: "https://a.example/token", scopes: {}}
"##,
        )?;
        let secret: Vec<bool> = got.iter().map(|(_, s)| *s).collect();
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["access_token", "refresh_token", "client_id", "client_secret"]);
        assert_eq!(secret, [true, true, false, true]);
        Ok(())
    }

    #[test]
    fn a_secret_flag_must_be_a_boolean_and_agree() {
        for (props, at) in [
            ("password: {type: string, secret: \"yes\"}", "/secret"),
            ("password: {type: string, airbyte_secret: 1}", "/airbyte_secret"),
            ("password: {type: string, secret: true, airbyte_secret: false}", "disagree"),
        ] {
            let doc = format!(
                r##"
components:
  securitySchemes:
    b:
      type: http
      scheme: bearer
      x-auth-config:
        properties:
          {props}
        auth_mapping: {{token: "${{password}}"}}
"##
            );
            let e = fields(&doc).err().unwrap_or_else(|| panic!("{props} must be refused"));
            assert!(e.message.contains(at), "{props}: {}", e.message);
        }
    }

    #[test]
    fn every_builtin_connector_field_has_an_answer_and_known_secrets_are_masked() -> crate::Result<()> {
        let registry = crate::Registry::builtin()?;
        let mut seen = 0;
        for spec in registry.all() {
            for f in spec.credential_fields() {
                seen += 1;
                if ["password", "api_key", "client_secret", "refresh_token", "access_token"].contains(&f.name.as_str())
                {
                    assert!(f.secret, "{}: {} must be secret", spec.slug, f.name);
                }
                if ["username", "email", "client_id"].contains(&f.name.as_str()) {
                    assert!(!f.secret, "{}: {} is an identifier", spec.slug, f.name);
                }
            }
        }
        assert!(seen > 50, "the built-in connectors have credential fields: {seen}");
        Ok(())
    }
}
