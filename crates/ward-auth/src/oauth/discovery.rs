//! Discovery documents: SMART App Launch 2 `/.well-known/smart-configuration` and OpenID
//! Connect `/.well-known/openid-configuration`.

use serde_json::{Value, json};

use super::AuthSettings;

/// The SMART configuration (every required and recommended field).
pub fn smart_configuration(s: &AuthSettings) -> Value {
    let auth = s.issuer();
    json!({
        "issuer": auth,
        "jwks_uri": format!("{auth}/jwks"),
        "authorization_endpoint": format!("{auth}/authorize"),
        "token_endpoint": format!("{auth}/token"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "registration_endpoint": format!("{auth}/admin/clients"),
        "scopes_supported": [
            "openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter",
            "offline_access", "online_access",
            "patient/*.cruds", "patient/*.rs", "user/*.cruds", "user/*.rs", "system/*.cruds",
            "system/*.rs", "patient/*.read", "patient/*.write", "user/*.read", "user/*.write",
            "system/*.read", "system/*.write"
        ],
        "response_types_supported": ["code"],
        "management_endpoint": format!("{auth}/login"),
        "introspection_endpoint": format!("{auth}/introspect"),
        "revocation_endpoint": format!("{auth}/revoke"),
        "userinfo_endpoint": format!("{auth}/userinfo"),
        "code_challenge_methods_supported": ["S256"],
        "capabilities": [
            "launch-ehr", "launch-standalone", "client-public",
            "client-confidential-asymmetric", "client-confidential-symmetric",
            "context-ehr-patient", "context-ehr-encounter", "context-standalone-patient",
            "context-banner", "sso-openid-connect", "permission-v1", "permission-v2",
            "permission-patient", "permission-user", "permission-offline",
            "permission-online", "authorize-post"
        ]
    })
}

/// The OpenID Connect provider configuration.
pub fn openid_configuration(s: &AuthSettings) -> Value {
    let auth = s.issuer();
    json!({
        "issuer": auth,
        "authorization_endpoint": format!("{auth}/authorize"),
        "token_endpoint": format!("{auth}/token"),
        "userinfo_endpoint": format!("{auth}/userinfo"),
        "jwks_uri": format!("{auth}/jwks"),
        "introspection_endpoint": format!("{auth}/introspect"),
        "revocation_endpoint": format!("{auth}/revoke"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": ["openid", "fhirUser", "profile", "offline_access", "online_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser",
            "preferred_username"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"]
    })
}
