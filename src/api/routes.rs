//! The one table of every route: method, path, the least role it needs (or public), and the
//! audit action recorded when it changes state. The router is built from it, and the access
//! test walks it with every role.

use super::{
    AppState, analysis, audit, checks, clusters, events, incidents, metrics, monitoring, openapi,
    probes, repairs, reports, session, tokens, users,
};
use crate::config::Role;
use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, post};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// An authenticated caller with at least this role.
    Least(Role),
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path, with `{param}` placeholders.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Audit action recorded for every call (state-changing routes), if any.
    pub audit: Option<&'static str>,
    /// A long-lived stream: exempt from the request timeout.
    pub streaming: bool,
}

fn row(
    method: Method,
    path: &'static str,
    access: Access,
    audit: Option<&'static str>,
    handler: MethodRouter<AppState>,
) -> (Route, MethodRouter<AppState>) {
    (
        Route {
            method,
            path,
            access,
            audit,
            streaming: false,
        },
        handler,
    )
}

/// Every route with its handler, one route per line (the table people read, so rustfmt is told
/// to leave it). `public_metrics` decides whether `/metrics` needs a token.
#[rustfmt::skip]
pub fn table(public_metrics: bool) -> Vec<(Route, MethodRouter<AppState>)> {
    use Access::{Least, Public};
    use Method as M;
    use Role::{Admin, Editor, Runner, Viewer};
    let metrics_access = if public_metrics { Public } else { Least(Viewer) };
    let mut events = row(M::GET, "/api/v1/events", Least(Viewer), None, get(events::stream));
    events.0.streaming = true;
    vec![
        row(M::GET, "/healthz", Public, None, get(probes::healthz)),
        row(M::GET, "/readyz", Public, None, get(probes::readyz)),
        row(M::GET, "/metrics", metrics_access, None, get(metrics::scrape)),
        row(M::POST, "/api/v1/auth/login", Public, None, post(session::login)),
        row(M::POST, "/api/v1/auth/logout", Least(Viewer), Some("auth.logout"), post(session::logout)),
        row(M::GET, "/api/v1/auth/me", Least(Viewer), None, get(session::me)),
        row(M::GET, "/api/v1/error-monitoring/status", Least(Viewer), None, get(monitoring::status)),
        row(M::GET, "/api/v1/error-monitoring/health", Least(Viewer), None, get(monitoring::health)),
        row(M::GET, "/api/v1/error-monitoring/metrics", Least(Viewer), None, get(monitoring::metrics)),
        row(M::POST, "/api/v1/error-monitoring/analyze-error", Least(Viewer), None, post(analysis::analyze_error)),
        row(M::GET, "/api/v1/checks", Least(Viewer), None, get(checks::list)),
        row(M::GET, "/api/v1/checks/{name}", Least(Viewer), None, get(checks::show)),
        row(M::GET, "/api/v1/clusters", Least(Viewer), None, get(clusters::list)),
        row(M::GET, "/api/v1/incidents", Least(Viewer), None, get(incidents::list)),
        row(M::GET, "/api/v1/incidents/{id}", Least(Viewer), None, get(incidents::show)),
        row(M::GET, "/api/v1/repairs", Least(Viewer), None, get(repairs::list)),
        row(M::GET, "/api/v1/repairs/{id}", Least(Viewer), None, get(repairs::show)),
        row(M::GET, "/api/v1/repairs/{id}/plan", Least(Viewer), None, get(repairs::plan)),
        row(M::GET, "/api/v1/error-monitoring/repair-history", Least(Viewer), None, get(repairs::history)),
        row(M::GET, "/api/v1/breakers", Least(Viewer), None, get(repairs::breakers)),
        row(M::GET, "/api/v1/reports/{kind}", Least(Viewer), None, get(reports::report)),
        row(M::GET, "/api/v1/openapi.json", Least(Viewer), None, get(openapi::spec)),
        events,
        row(M::POST, "/api/v1/error-monitoring/repair-task", Least(Runner), Some("repair.request"), post(repairs::repair_task)),
        // Approving also needs the runbook's `required_role` (checked in the handler).
        row(M::POST, "/api/v1/repairs/{id}/approve", Least(Editor), Some("repair.approve"), post(repairs::approve)),
        row(M::POST, "/api/v1/repairs/{id}/deny", Least(Editor), Some("repair.deny"), post(repairs::deny)),
        row(M::POST, "/api/v1/error-monitoring/start", Least(Editor), Some("monitoring.start"), post(monitoring::start)),
        row(M::POST, "/api/v1/error-monitoring/stop", Least(Editor), Some("monitoring.stop"), post(monitoring::stop)),
        row(M::POST, "/api/v1/incidents/{id}/ack", Least(Editor), Some("incident.ack"), post(incidents::ack)),
        row(M::POST, "/api/v1/incidents/{id}/resolve", Least(Editor), Some("incident.resolve"), post(incidents::resolve)),
        row(M::POST, "/api/v1/error-monitoring/emergency-stop", Least(Editor), Some("emergency_stop.engage"), post(repairs::emergency_stop)),
        row(M::POST, "/api/v1/error-monitoring/resume", Least(Editor), Some("emergency_stop.resume"), post(repairs::resume)),
        row(M::POST, "/api/v1/breakers/reset", Least(Editor), Some("breaker.reset"), post(repairs::reset_breaker)),
        row(M::GET, "/api/v1/tokens", Least(Admin), None, get(tokens::list)),
        row(M::POST, "/api/v1/tokens", Least(Admin), Some("token.create"), post(tokens::create)),
        row(M::DELETE, "/api/v1/tokens/{id}", Least(Admin), Some("token.revoke"), delete(tokens::revoke)),
        row(M::GET, "/api/admin/users", Least(Admin), None, get(users::list)),
        row(M::POST, "/api/admin/users", Least(Admin), Some("user.add"), post(users::add)),
        row(M::POST, "/api/admin/users/{name}/disable", Least(Admin), Some("user.disable"), post(users::disable)),
        row(M::GET, "/api/admin/audit", Least(Admin), None, get(audit::list)),
        row(M::GET, "/api/admin/audit/verify", Least(Admin), None, get(audit::verify)),
    ]
}

/// The table without handlers (for tests and documentation).
pub fn route_table(public_metrics: bool) -> Vec<Route> {
    table(public_metrics).into_iter().map(|(r, _)| r).collect()
}
