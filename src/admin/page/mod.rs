//! The status page: HTML for people, on the admin address, next to the JSON API.
//!
//! - `GET /` redirects (303) to `/slos`.
//! - `GET /slos` lists every SLO, least budget left first: target, window, events,
//!   bad events, budget left, the burn rate over every window the status reports
//!   and the alert state (page, ticket). Rendered here from [`SloSource::statuses`],
//!   so it needs no script; it reloads itself every 30 s.
//! - `GET /slos/{name}` one SLO (404 for an unknown name): `page.js` fetches the
//!   status and the history (`/api/v1/slos/{name}[/history]`, same origin) and draws
//!   the budget left and the burn rate over the whole window as inline SVG (one
//!   circle per history point, with `data-minute` and `data-value` holding the
//!   API's figures), "why is it burning" from `/api/v1/slos/{name}/explain` (the
//!   SLO window, or `?explain=1h` on the page's URL; one row per value, with
//!   `data-key` and `data-value`), the segments worst first, and the recent bad
//!   events' trace ids, linked with the slo processor's `trace_url`. `?step=5m` on
//!   the page's URL sets the history step; by default it is the whole minutes that keep a chart to at
//!   most 1,440 points (a minute each for a window up to a day).
//! - `GET /static/page.css`, `GET /static/page.js`.
//!
//! Everything the page uses is compiled into the binary (`include_str!`): no CDN,
//! font or image, so it works offline, and the Content-Security-Policy sent with
//! every page allows nothing but the admin address itself. Every string from data
//! (SLO names, segment values, trace ids) is escaped here ([`escape`]) or set as
//! text by the script, never parsed as markup.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use super::SloSource;

const LIST_HTML: &str = include_str!("list.html");
const SLO_HTML: &str = include_str!("slo.html");
const PAGE_CSS: &str = include_str!("page.css");
const PAGE_JS: &str = include_str!("page.js");

/// Only the admin address itself: the page needs nothing else, and an injected
/// script or external asset would not run.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[derive(Clone)]
struct PageState {
    slos: Arc<dyn SloSource>,
}

/// The page routes (any router state: they carry their own).
pub fn router<S: Clone + Send + Sync + 'static>(slos: Arc<dyn SloSource>) -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/slos") }))
        .route("/slos", get(list_page))
        .route("/slos/{name}", get(slo_page))
        .route(
            "/static/page.css",
            get(|| async { asset("text/css; charset=utf-8", PAGE_CSS) }),
        )
        .route(
            "/static/page.js",
            get(|| async { asset("text/javascript; charset=utf-8", PAGE_JS) }),
        )
        .with_state(PageState { slos })
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

async fn list_page(State(state): State<PageState>) -> Response {
    html(StatusCode::OK, render_list(&state.slos.statuses()))
}

async fn slo_page(State(state): State<PageState>, Path(name): Path<String>) -> Response {
    match state.slos.status(&name) {
        Some(_) => html(StatusCode::OK, render_slo(&name)),
        None => html(
            StatusCode::NOT_FOUND,
            LIST_HTML.replace(
                "{{body}}",
                &format!(
                    "<p class=\"error\">No SLO named <code>{}</code>. <a href=\"/slos\">All SLOs</a></p>",
                    escape(&name)
                ),
            ),
        ),
    }
}

/// `text` safe in HTML text and in a quoted attribute value (the zpages' escaping).
pub use crate::extensions::zpages::escape;

/// `text` as one URL path segment: every byte but RFC 3986's unreserved ones
/// percent-encoded (so `/`, `?`, `#` and spaces in a name stay in the segment).
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Seconds in a window label (`5m`, `1h`, `3d`), for ordering burn rates; labels
/// that are not durations sort last.
fn label_seconds(label: &str) -> u64 {
    crate::confmap::parse_duration(label).map_or(u64::MAX, |d| d.as_secs())
}

fn number(value: &serde_json::Value, key: &str) -> f64 {
    value.get(key).and_then(serde_json::Value::as_f64).unwrap_or(0.0)
}

/// The alert cell: `PAGE`, `ticket` or `ok`.
fn alert_cell(status: &serde_json::Value) -> &'static str {
    let firing = |severity: &str| status["alerts"][severity].as_bool().unwrap_or(false);
    if firing("page") {
        r#"<span class="alert page">PAGE</span>"#
    } else if firing("ticket") {
        r#"<span class="alert ticket">ticket</span>"#
    } else {
        r#"<span class="alert ok">ok</span>"#
    }
}

/// The list page over the statuses the API serves, least budget left first.
pub fn render_list(statuses: &[serde_json::Value]) -> String {
    if statuses.is_empty() {
        return LIST_HTML.replace(
            "{{body}}",
            "<p class=\"note\">No SLOs: this sloop has no slo processor with objectives.</p>",
        );
    }
    let mut sorted: Vec<&serde_json::Value> = statuses.iter().collect();
    sorted.sort_by(|a, b| number(a, "error_budget_remaining").total_cmp(&number(b, "error_budget_remaining")));
    let mut rows = String::new();
    for status in sorted {
        let name = status["name"].as_str().unwrap_or_default();
        let budget = number(status, "error_budget_remaining");
        let mut burns: Vec<(&String, f64)> = status["burn_rates"]
            .as_object()
            .map(|rates| rates.iter().map(|(w, r)| (w, r.as_f64().unwrap_or(0.0))).collect())
            .unwrap_or_default();
        burns.sort_by_key(|(w, _)| label_seconds(w));
        let burns: String = burns
            .iter()
            .map(|(w, r)| format!("<span data-window=\"{}\">{} {r:.2}</span>", escape(w), escape(w)))
            .collect();
        rows.push_str(&format!(
            "<tr data-slo=\"{name_attr}\" data-budget=\"{budget}\">\
             <td><a href=\"/slos/{href}\">{name_text}</a></td>\
             <td>{sli}</td><td class=\"num\">{target}%</td><td>{window}</td>\
             <td class=\"num\">{total:.0}</td><td class=\"num\">{bad:.0}</td>\
             <td class=\"num budget{overspent}\">{budget_pct:.2}%</td>\
             <td class=\"burns\">{burns}</td><td>{alert}</td></tr>\n",
            name_attr = escape(name),
            href = escape(&path_segment(name)),
            name_text = escape(name),
            sli = escape(status["sli"].as_str().unwrap_or_default()),
            // Rounded so 0.99 shows as 99, not 99.00000000000001.
            target = (number(status, "target") * 100.0 * 1e6).round() / 1e6,
            window = escape(status["window"].as_str().unwrap_or_default()),
            total = number(status, "total"),
            bad = number(status, "bad"),
            overspent = if budget < 0.0 { " overspent" } else { "" },
            budget_pct = budget * 100.0,
            alert = alert_cell(status),
        ));
    }
    let table = format!(
        "<table id=\"slos\">\n<tr><th>SLO</th><th>SLI</th><th class=\"num\">Target</th><th>Window</th>\
         <th class=\"num\">Events</th><th class=\"num\">Bad</th><th class=\"num\">Budget left</th>\
         <th>Burn rate</th><th>Alert</th></tr>\n{rows}</table>"
    );
    LIST_HTML.replace("{{body}}", &table)
}

/// One SLO's page (the script fills it in).
pub fn render_slo(name: &str) -> String {
    let api = format!("/api/v1/slos/{}", path_segment(name));
    SLO_HTML
        .replace("{{api}}", &escape(&api))
        .replace("{{name}}", &escape(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    struct TwoSlos;

    fn status(name: &str, budget: f64, page: bool) -> serde_json::Value {
        serde_json::json!({
            "name": name, "sli": "checkout", "target": 0.99, "window": "30d",
            "total": 100.0, "good": 99.0, "bad": 1.0, "allowed_bad": 1.0,
            "error_budget_remaining": budget,
            "burn_rates": {"1h": 2.5, "5m": 0.0, "3d": 1.0},
            "exhaustion_seconds": null,
            "alerts": {"page": page, "ticket": false},
        })
    }

    impl SloSource for TwoSlos {
        fn statuses(&self) -> Vec<serde_json::Value> {
            vec![
                status("fine", 0.9, false),
                status("<script>alert(1)</script>", -0.5, true),
            ]
        }
        fn status(&self, name: &str) -> Option<serde_json::Value> {
            self.statuses().into_iter().find(|s| s["name"] == name)
        }
        // The pages read the JSON only.
        fn slo_statuses(&self) -> Vec<crate::api::v1::SloStatus> {
            Vec::new()
        }
        fn slo_status(&self, _: &str) -> Option<crate::api::v1::SloStatus> {
            None
        }
    }

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(path_segment("a b/c?d#é"), "a%20b%2Fc%3Fd%23%C3%A9");
        let page = render_slo("\"><script>x</script>");
        assert!(!page.contains("<script>x"), "{page}");
        assert!(
            page.contains("data-slo=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\""),
            "{page}"
        );
        assert!(
            page.contains("data-api=\"/api/v1/slos/%22%3E%3Cscript%3Ex%3C%2Fscript%3E\""),
            "{page}"
        );
    }

    #[test]
    fn the_list_puts_least_budget_first_escaped_with_every_burn_rate() {
        let page = render_list(&TwoSlos.statuses());
        assert!(!page.contains("<script>alert"), "{page}");
        let hostile = page
            .find("data-slo=\"&lt;script&gt;alert(1)&lt;/script&gt;\"")
            .expect("the hostile name, escaped");
        let fine = page.find("data-slo=\"fine\"").expect("the fine SLO");
        assert!(hostile < fine, "least budget first");
        assert!(
            page.contains("href=\"/slos/%3Cscript%3Ealert%281%29%3C%2Fscript%3E\""),
            "{page}"
        );
        assert!(page.contains("-50.00%"), "{page}");
        assert!(page.contains("PAGE"), "{page}");
        // Burn rates shortest window first.
        let order: Vec<usize> = ["5m 0.00", "1h 2.50", "3d 1.00"]
            .iter()
            .map(|s| page.find(s).unwrap_or_else(|| panic!("{s} in {page}")))
            .collect();
        assert!(order[0] < order[1] && order[1] < order[2], "{order:?}");
    }

    async fn get(path: &str) -> Response {
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .expect("a valid request");
        router::<()>(Arc::new(TwoSlos))
            .oneshot(request)
            .await
            .expect("infallible")
    }

    #[tokio::test]
    async fn root_redirects_and_pages_have_their_types() {
        let root = get("/").await;
        assert_eq!(root.status(), StatusCode::SEE_OTHER);
        assert_eq!(root.headers()[header::LOCATION], "/slos");
        for (path, status, content_type) in [
            ("/slos", StatusCode::OK, "text/html; charset=utf-8"),
            ("/slos/fine", StatusCode::OK, "text/html; charset=utf-8"),
            ("/slos/missing", StatusCode::NOT_FOUND, "text/html; charset=utf-8"),
            ("/static/page.css", StatusCode::OK, "text/css; charset=utf-8"),
            ("/static/page.js", StatusCode::OK, "text/javascript; charset=utf-8"),
        ] {
            let response = get(path).await;
            assert_eq!(response.status(), status, "{path}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], content_type, "{path}");
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store", "{path}");
        }
        let slo = get("/slos/fine").await;
        assert!(slo.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .is_ok_and(|csp| csp.contains("default-src 'none'")));
    }

    /// Nothing the page loads comes from elsewhere: it works offline.
    #[test]
    fn no_external_assets() {
        for (file, text) in [
            ("list.html", LIST_HTML),
            ("slo.html", SLO_HTML),
            ("page.css", PAGE_CSS),
            ("page.js", PAGE_JS),
        ] {
            // The SVG namespace is a name, not something loaded.
            let text = text.replace("http://www.w3.org/2000/svg", "");
            for external in ["http://", "https://", "//cdn", "@import", "url("] {
                assert!(!text.contains(external), "{file} refers to {external}");
            }
        }
    }
}
