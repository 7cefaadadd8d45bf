//! The web dashboard: hand-written HTML, CSS and JavaScript modules embedded in the binary,
//! served without auth at `/`, `/assets/{file}` and `/hitl/approve/{repair_id}`.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
    etag: &'static str,
}

/// Declares an embedded asset; its ETag is a hash of its bytes computed at compile time.
macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_str!(concat!("assets/", $name)),
            etag: {
                const HASH: [u8; 18] = etag(include_str!(concat!("assets/", $name)).as_bytes());
                match std::str::from_utf8(&HASH) {
                    Ok(text) => text,
                    Err(_) => panic!("etag is ASCII"),
                }
            },
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the dashboard needs; nothing is fetched from elsewhere.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("auth.js", JS),
    asset!("live.js", JS),
    asset!("dom.js", JS),
    asset!("charts.js", JS),
    asset!("overview.js", JS),
    asset!("incident.js", JS),
    asset!("approvals.js", JS),
    asset!("history.js", JS),
    asset!("reports.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// `"` + 16 hex digits of the FNV-1a hash of `bytes` + `"`.
const fn etag(bytes: &[u8]) -> [u8; 18] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    let digits = b"0123456789abcdef";
    let mut out = [b'"'; 18];
    let mut j = 0;
    while j < 16 {
        out[16 - j] = digits[((hash >> (4 * j)) & 0xf) as usize];
        j += 1;
    }
    out
}

/// Scripts, styles and data only from this origin; no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The dashboard's routes (public: the page needs no auth, the data it fetches does);
/// `missing` answers a request for an asset that does not exist.
pub fn router<S: Clone + Send + Sync + 'static>(missing: fn(&str) -> Response) -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/hitl/approve/{repair_id}", get(index))
        .route(
            "/assets/{file}",
            get(
                move |Path(name): Path<String>, request: HeaderMap| async move {
                    match find(&name) {
                        Some(asset) => serve(asset, &request),
                        None => missing(&name),
                    }
                },
            ),
        )
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

fn serve(asset: &'static Asset, request: &HeaderMap) -> Response {
    let etag = HeaderValue::from_static(asset.etag);
    let headers = [
        (header::ETAG, etag.clone()),
        // Revalidate every time: the ETag makes that a cheap 304.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    if request.get(header::IF_NONE_MATCH) == Some(&etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (
        headers,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.body,
    )
        .into_response()
}

/// The single-page app (also for `/hitl/approve/{repair_id}`, which opens the approval view).
async fn index(request: HeaderMap) -> Response {
    match find("index.html") {
        Some(asset) => serve(asset, &request),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_by_content_and_are_quoted_hex() {
        let a = etag(b"a");
        let b = etag(b"b");
        assert_ne!(a, b);
        assert_eq!(a[0], b'"');
        assert_eq!(a[17], b'"');
        assert!(a[1..17].iter().all(u8::is_ascii_hexdigit));
    }

    #[test]
    fn every_asset_is_small_and_named_once() {
        for asset in ASSETS {
            assert!(asset.body.len() < 64 * 1024, "{} is large", asset.name);
            assert_eq!(ASSETS.iter().filter(|a| a.name == asset.name).count(), 1);
        }
    }
}
