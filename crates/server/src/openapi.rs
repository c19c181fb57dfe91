//! The OpenAPI document, generated from the handlers' annotations, served
//! at `/api/v1/openapi.json` without a token.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{admin, mail};

#[derive(OpenApi)]
#[openapi(
    info(title = "smimed", description = "S/MIME for helpdesks: certificate store, signing, encryption, decryption and verification."),
    paths(
        admin::get_settings,
        admin::put_settings,
        admin::list_certificates,
        admin::import_certificates,
        admin::get_certificate,
        admin::download_certificate,
        admin::delete_certificate,
        admin::import_private_keys,
        admin::download_private_key,
        admin::delete_private_key,
        admin::import_crl,
        admin::list_crls,
        admin::list_pending,
        admin::accept_pending,
        admin::reject_pending,
        admin::list_groups,
        admin::get_group,
        admin::put_group,
        admin::delete_group,
        admin::logs,
        admin::audit,
        admin::status,
        mail::security_options,
        mail::outgoing,
        mail::incoming,
        mail::get_incoming,
        mail::retry_incoming,
    ),
    components(schemas(admin::SettingsBody, admin::GroupBody, mail::OptionsBody)),
    modifiers(&BearerAuth)
)]
pub(crate) struct ApiDoc;

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

pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
