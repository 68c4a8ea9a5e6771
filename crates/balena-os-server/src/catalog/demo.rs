//! The demo catalog (placeholder while being written).
use super::{Catalog, CatalogError};

/// Creates the administrator.
pub async fn bootstrap_admin(catalog: &Catalog) -> Result<String, CatalogError> {
    catalog.create_user("admin", None, &[], true).await?;
    Ok(catalog
        .create_api_key("admin", Some("bootstrap"), None)
        .await?
        .key)
}

/// Loads the demo catalog.
pub async fn load(catalog: &Catalog) -> Result<String, CatalogError> {
    let _ = catalog;
    Err(CatalogError::Document(
        "demo catalog not written yet".into(),
    ))
}
