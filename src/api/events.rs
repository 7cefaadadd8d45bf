//! `/api/v1/events`: server-sent events — every check status change and monitoring start/stop,
//! as they happen. A client that falls behind gets a `lagged` event with the number it missed.

use super::AppState;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use std::convert::Infallible;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Streams events (`check_status`, `monitoring`, `lagged`) as they happen.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    responses((status = 200, description = "text/event-stream of JSON events", content_type = "text/event-stream")),
    security(("bearer" = [])))]
pub async fn stream(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let events = BroadcastStream::new(state.bus.subscribe()).map(|item| {
        Ok(match item {
            Ok(event) => SseEvent::default()
                .event(event.name())
                .json_data(&event)
                .unwrap_or_else(|_| {
                    SseEvent::default()
                        .event("error")
                        .data("event could not be encoded")
                }),
            Err(BroadcastStreamRecvError::Lagged(missed)) => SseEvent::default()
                .event("lagged")
                .data(format!("{{\"missed\":{missed}}}")),
        })
    });
    let shutdown = state.shutdown.clone();
    let events =
        futures::StreamExt::take_until(events, async move { shutdown.cancelled_owned().await });
    Sse::new(events).keep_alive(KeepAlive::default())
}
