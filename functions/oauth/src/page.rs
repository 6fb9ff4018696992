//! The authorize page's HTML: our own, small, with no script and nothing loaded from
//! elsewhere. The one stylesheet is inline and allowed by its hash in the
//! `Content-Security-Policy`; forms post back here (`form-action 'self'`) and, after
//! approval, redirect to the app, whose origin `form-action` therefore also names.
//! Every dynamic text is escaped.

use std::sync::LazyLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_FRAME_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use shared::auth::scopes::{Context, Resource, Scopes};

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#eef2f6;color:#1c2733}\
main{max-width:28rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:12px;\
box-shadow:0 2px 12px rgba(20,40,70,.12)}\
.brand{font-size:.9rem;letter-spacing:.08em;text-transform:uppercase;color:#4a6480;margin:0 0 .5rem}\
h1{font-size:1.4rem;margin:0 0 1rem}\
p{margin:.5rem 0 1rem}\
label{display:block;font-weight:600;margin:1rem 0 .3rem}\
input[type=email],input[type=password],input[type=text]{width:100%;padding:.65rem .75rem;font:inherit;\
border:1px solid #9fb1c4;border-radius:8px}\
input:focus{outline:3px solid #9cc3ff;border-color:#2b6cb0}\
button{font:inherit;font-weight:600;padding:.7rem 1.2rem;border-radius:8px;border:1px solid #2b6cb0;\
background:#2b6cb0;color:#fff;cursor:pointer;margin:1.2rem .5rem 0 0}\
button.secondary{background:#fff;color:#2b6cb0}\
.error{background:#fdecec;border:1px solid #e3a1a1;color:#8a1c1c;padding:.6rem .8rem;border-radius:8px}\
ul.scopes{padding-left:1.2rem}ul.scopes li{margin:.3rem 0}\
fieldset{border:0;padding:0;margin:0}legend{font-weight:600;padding:0;margin:1rem 0 .3rem}\
.patient{display:flex;gap:.6rem;align-items:center;padding:.6rem;border:1px solid #d5dee8;border-radius:8px;\
margin:.4rem 0}\
.patient span{color:#4a6480;font-size:.9rem;font-weight:400}\
.fine{font-size:.9rem;color:#4a6480}";

static STYLE_HASH: LazyLock<String> = LazyLock::new(|| {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, STYLE.as_bytes());
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest.as_ref()))
});

/// Text safe inside HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

/// A whole page: `body` is HTML already escaped; `redirect_origin` is the app's, which
/// `form-action` must allow for the redirect that follows an approval.
pub fn page(status: StatusCode, title: &str, body: &str, redirect_origin: Option<&str>) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{title}</title><style>{STYLE}</style></head>\
         <body><main><p class=\"brand\">Healthcare API · secure sign-in</p>{body}</main></body></html>",
        title = escape(title)
    );
    let form_action = match redirect_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; style-src {}; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'",
        *STYLE_HASH
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// An error shown, never redirected (an unknown client, an unregistered redirect URI).
pub fn error(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>This sign-in link cannot be used</h1><p class=\"error\" role=\"alert\">{}</p>\
        <p class=\"fine\">Go back to the app and start again. If it keeps happening, tell the app's maker.</p>",
        escape(message)
    );
    page(status, "Sign-in problem", &body, None)
}

fn alert(error: Option<&str>) -> String {
    error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default()
}

fn hidden(csrf: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">", escape(csrf))
}

pub fn sign_in(status: StatusCode, app: &str, csrf: &str, error: Option<&str>, origin: &str) -> Response {
    let body = format!(
        "<h1>Sign in to continue to {app}</h1>{alert}\
         <form method=\"post\" action=\"/api/auth/oauth/authorize\">{hidden}\
         <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>\
         <p class=\"fine\">{app} will not see your password.</p>",
        app = escape(app),
        alert = alert(error),
        hidden = hidden(csrf)
    );
    page(status, "Sign in", &body, Some(origin))
}

pub fn code(status: StatusCode, app: &str, csrf: &str, error: Option<&str>, origin: &str) -> Response {
    let body = format!(
        "<h1>Enter your verification code</h1>{alert}\
         <p>Open your authenticator app and enter the 6-digit code for this account.</p>\
         <form method=\"post\" action=\"/api/auth/oauth/authorize\">{hidden}\
         <label for=\"code\">Verification code</label><input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" required autofocus>\
         <button type=\"submit\">Verify</button></form>\
         <p class=\"fine\">Signing in to {app}.</p>",
        app = escape(app),
        alert = alert(error),
        hidden = hidden(csrf)
    );
    page(status, "Verification code", &body, Some(origin))
}

pub fn consent(app: &str, scopes: &Scopes, csrf: &str, origin: &str) -> Response {
    let items: String = in_words(scopes).iter().map(|line| format!("<li>{}</li>", escape(line))).collect();
    let body = format!(
        "<h1>Allow {app} to use your account?</h1>\
         <p><strong>{app}</strong> is asking to:</p><ul class=\"scopes\">{items}</ul>\
         <form method=\"post\" action=\"/api/auth/oauth/authorize\">{hidden}\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></form>\
         <p class=\"fine\">You can end this access at any time from your account's sessions.</p>",
        app = escape(app),
        hidden = hidden(csrf)
    );
    page(StatusCode::OK, "Allow access", &body, Some(origin))
}

/// One patient the picker offers: id, name, date of birth.
pub struct Choice {
    pub id: String,
    pub name: String,
    pub born: String,
}

pub fn picker(app: &str, choices: &[Choice], csrf: &str, error: Option<&str>, origin: &str) -> Response {
    let options: String = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "<label class=\"patient\" for=\"p{i}\"><input type=\"radio\" id=\"p{i}\" name=\"patient\" value=\"{id}\"{checked} required>\
                 {name} <span>born {born}</span></label>",
                id = escape(&c.id),
                name = escape(&c.name),
                born = escape(&c.born),
                // Nothing is chosen for the person unless there is nothing to choose: a default
                // patient is one click away from the wrong chart.
                checked = if choices.len() == 1 { " checked" } else { "" }
            )
        })
        .collect();
    let form = match choices.is_empty() {
        true => "<p class=\"error\" role=\"alert\">You have no patients this app may reach.</p>".to_owned(),
        false => format!(
            "<form method=\"post\" action=\"/api/auth/oauth/authorize\">{hidden}\
             <fieldset><legend>Patients</legend>{options}</fieldset>\
             <button type=\"submit\">Continue</button></form>",
            hidden = hidden(csrf)
        ),
    };
    let body = format!(
        "<h1>Choose a patient</h1>{alert}<p>{app} will work with this patient's record only.</p>{form}",
        app = escape(app),
        alert = alert(error)
    );
    page(StatusCode::OK, "Choose a patient", &body, Some(origin))
}

/// Each granted scope as a sentence a doctor can read.
pub fn in_words(scopes: &Scopes) -> Vec<String> {
    let mut lines = Vec::new();
    for (scope, words) in [
        ("openid", "Confirm who you are (your account's id)"),
        ("fhirUser", "Know which doctor or patient record is yours"),
        ("launch/patient", "Work with one patient you choose next"),
        ("offline_access", "Keep access after you close the app, until you end it"),
        ("online_access", "Keep access while you are using it"),
    ] {
        if scopes.has(scope) {
            lines.push(words.to_owned());
        }
    }
    for resource in scopes.resources() {
        let what = match resource.resource {
            Some(Resource::Patient) => "patients' records",
            Some(Resource::Practitioner) => "the doctors' directory",
            Some(Resource::Organization) => "your organizations",
            None => "patients' records, the doctors' directory and your organizations",
        };
        let whose = match resource.context {
            Context::Patient => " (only the patient you choose)",
            Context::User => " that you can see",
            Context::System => " of the whole organization",
        };
        lines.push(format!("{} {what}{whose}", resource.permissions_in_words()));
    }
    lines
}
