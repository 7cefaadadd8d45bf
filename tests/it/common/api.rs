//! Talking to the API as a user would: one client, requests carrying a bearer token, and the
//! status with the JSON body of each answer.

use super::TOKEN;
use homeostat::app::App;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use std::time::Duration;

/// A reqwest client for the API.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// `http://ADDRESS` of the app's API.
pub fn base_url(app: &App) -> String {
    format!("http://{}", app.address)
}

/// A `method` request to `url` carrying `token`.
pub fn request_as(method: Method, url: &str, token: &str) -> RequestBuilder {
    client().request(method, url).bearer_auth(token)
}

/// A `method` request to `path` on the app with the admin token.
pub fn request(app: &App, method: Method, path: &str) -> RequestBuilder {
    request_as(method, &format!("{}{path}", base_url(app)), TOKEN)
}

/// Sends `request`, failing the test with `what` when it gets no answer; returns the status and
/// the JSON body (`Null` when the body is not JSON).
pub async fn answer(request: RequestBuilder, what: &str) -> (u16, Value) {
    let response: Response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// GET `url` with the admin token, as JSON; `None` while the request or the body fails (for
/// polling a daemon that may not be up yet).
pub async fn fetch_json(url: &str) -> Option<Value> {
    request_as(Method::GET, url, TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// GET `path` on the app with the admin token; returns status and JSON body.
pub async fn get_json(app: &App, path: &str) -> (u16, Value) {
    answer(request(app, Method::GET, path), "GET").await
}

/// POST `body` as JSON to `path` on the app with the admin token; returns status and JSON body.
pub async fn post_json(app: &App, path: &str, body: Value) -> (u16, Value) {
    answer(request(app, Method::POST, path).json(&body), "POST").await
}

/// POST `body` as JSON to `url` carrying `token`; returns status and JSON body.
pub async fn post_json_as(url: &str, token: &str, body: Value) -> (u16, Value) {
    answer(request_as(Method::POST, url, token).json(&body), "POST").await
}

/// DELETE `path` on the app with the admin token; returns status and JSON body.
pub async fn delete(app: &App, path: &str) -> (u16, Value) {
    answer(request(app, Method::DELETE, path), "DELETE").await
}

/// The app's `/metrics` text (no token: public by default).
pub async fn metrics_text(app: &App) -> String {
    client()
        .get(format!("{}/metrics", base_url(app)))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text")
}

/// The string field `key` of every element of the JSON array `list` (a timeline's kinds, the
/// states of repairs); fails the test when `list` is not an array.
pub fn strings_of<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .filter_map(|item| item[key].as_str())
        .collect()
}
