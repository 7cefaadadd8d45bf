//! `/api/v1/openapi.json`: the OpenAPI 3 description, generated from the handlers' doc comments
//! and the response types' schemas.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Homeostat API", description = "Watch, detect, repair, record."),
    paths(
        super::probes::healthz,
        super::probes::readyz,
        super::metrics::scrape,
        super::monitoring::status,
        super::monitoring::health,
        super::monitoring::metrics,
        super::analysis::analyze_error,
        super::monitoring::start,
        super::monitoring::stop,
        super::checks::list,
        super::checks::show,
        super::clusters::list,
        super::reports::report,
        super::incidents::list,
        super::incidents::show,
        super::incidents::ack,
        super::incidents::resolve,
        super::repairs::list,
        super::repairs::show,
        super::repairs::plan,
        super::repairs::history,
        super::repairs::approve,
        super::repairs::deny,
        super::repairs::repair_task,
        super::repairs::emergency_stop,
        super::repairs::resume,
        super::repairs::breakers,
        super::repairs::reset_breaker,
        super::events::stream,
        super::session::login,
        super::session::logout,
        super::session::me,
        super::tokens::create,
        super::tokens::list,
        super::tokens::revoke,
        super::users::list,
        super::users::add,
        super::users::disable,
        super::audit::list,
        super::audit::verify,
        spec,
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3 document")), security(("bearer" = [])))]
pub async fn spec() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
