//! Helper models the OS model relies on: device type and application
//! lookups (sdk-wire.md §3), with their pure request builders.

use serde_json::{Value, json};

use crate::client::{API_VERSION, Balena};
use crate::error::{Error, Result};
use crate::request::ApiRequest;
use crate::types::{PineOptions, check_text};

/// A resource addressed by numeric id or by a string (slug, alias or uuid).
/// A numeric *string* is a slug, as in the JS SDK.
///
/// ```
/// use balena_sdk::IdOrSlug;
/// assert_eq!(IdOrSlug::from(3u64), IdOrSlug::Id(3));
/// assert_eq!(IdOrSlug::from("3"), IdOrSlug::Slug("3".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdOrSlug {
    /// A numeric database id.
    Id(u64),
    /// A slug, alias or uuid.
    Slug(String),
}

impl From<u64> for IdOrSlug {
    fn from(id: u64) -> Self {
        IdOrSlug::Id(id)
    }
}

impl From<&str> for IdOrSlug {
    fn from(s: &str) -> Self {
        IdOrSlug::Slug(s.to_owned())
    }
}

impl From<String> for IdOrSlug {
    fn from(s: String) -> Self {
        IdOrSlug::Slug(s)
    }
}

impl std::fmt::Display for IdOrSlug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdOrSlug::Id(id) => write!(f, "{id}"),
            IdOrSlug::Slug(s) => f.write_str(s),
        }
    }
}

impl IdOrSlug {
    pub(crate) fn validate(&self, name: &'static str) -> Result<()> {
        match self {
            IdOrSlug::Id(id) if i64::try_from(*id).is_err() => Err(Error::InvalidParameter {
                name,
                value: id.to_string(),
                reason: "ids are at most 2^63-1".into(),
            }),
            IdOrSlug::Id(_) => Ok(()),
            IdOrSlug::Slug(s) => check_text(name, s),
        }
    }
}

fn pine_error(source: balena_pine::OptionsError) -> Error {
    Error::PineOptions { source }
}

/// Merges caller options into defaults with pine's `mergePineOptions` rules.
pub(crate) fn merge(defaults: &Value, extra: Option<&Value>) -> Result<Value> {
    balena_pine::merge_pine_options(defaults, extra).map_err(pine_error)
}

/// Encodes `/v7/<resource>[(<id>)]?<options>`.
pub(crate) fn pine_path(resource: &str, id: Option<u64>, options: &Value) -> Result<String> {
    let opts = balena_pine::ODataOptions::from_json(options).map_err(pine_error)?;
    let mut req = balena_pine::PineRequest::new(resource, opts);
    if let Some(id) = id {
        let id = i64::try_from(id).map_err(|_| Error::InvalidParameter {
            name: "id",
            value: id.to_string(),
            reason: "ids are at most 2^63-1".into(),
        })?;
        req.key = Some(balena_pine::ResourceKey::Integer(id));
    }
    Ok(req.to_url_path(API_VERSION))
}

/// The request behind `deviceType.get(idOrSlug, options)`.
///
/// ```
/// use balena_sdk::{IdOrSlug, models::device_type_get_request};
/// let r = device_type_get_request(&IdOrSlug::Id(2), None).unwrap();
/// assert_eq!(r.path_and_query, "/v7/device_type(2)");
/// ```
pub fn device_type_get_request(
    id_or_slug: &IdOrSlug,
    options: Option<&PineOptions>,
) -> Result<ApiRequest> {
    id_or_slug.validate("device_type")?;
    let caller = options.map(PineOptions::to_json);
    let path = match id_or_slug {
        IdOrSlug::Id(id) => pine_path(
            "device_type",
            Some(*id),
            &merge(&json!({}), caller.as_ref())?,
        )?,
        IdOrSlug::Slug(slug) => {
            let base = merge(&json!({"$orderby": "name asc"}), caller.as_ref())?;
            let alias = json!({
                "$top": 1,
                "$filter": {"device_type_alias": {"$any": {
                    "$alias": "dta",
                    "$expr": {"dta": {"is_referenced_by__alias": slug}}
                }}}
            });
            pine_path("device_type", None, &merge(&base, Some(&alias))?)?
        }
    };
    Ok(ApiRequest::pine(path))
}

/// The request behind `application.get(slugOrUuidOrId, options)`: strings
/// are lower-cased and matched against both slug and uuid.
pub fn application_get_request(
    app: &IdOrSlug,
    options: Option<&PineOptions>,
) -> Result<ApiRequest> {
    app.validate("application")?;
    let caller = options.map(PineOptions::to_json);
    let path = match app {
        IdOrSlug::Id(id) => pine_path(
            "application",
            Some(*id),
            &merge(&json!({}), caller.as_ref())?,
        )?,
        IdOrSlug::Slug(s) => {
            let s = s.to_lowercase();
            let base = json!({"$filter": {"$or": [{"slug": s}, {"uuid": s}]}});
            pine_path("application", None, &merge(&base, caller.as_ref())?)?
        }
    };
    Ok(ApiRequest::pine(path))
}

/// Device type lookups (`client.device_types()`).
#[derive(Debug, Clone, Copy)]
pub struct DeviceTypes<'a> {
    client: &'a Balena,
}

impl<'a> DeviceTypes<'a> {
    pub(crate) fn new(client: &'a Balena) -> Self {
        DeviceTypes { client }
    }

    /// Gets a device type by id, slug or alias (the first match by name).
    /// Fails with [`Error::InvalidDeviceType`] when nothing matches.
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// let opts = balena_sdk::PineOptions::new().select(["slug"])?;
    /// let dt = balena.device_types().get("rpi3".into(), Some(&opts)).await?;
    /// assert_eq!(dt["slug"], "raspberrypi3");
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id_or_slug: IdOrSlug, options: Option<&PineOptions>) -> Result<Value> {
        let req = device_type_get_request(&id_or_slug, options)?;
        let row = match id_or_slug {
            IdOrSlug::Id(_) => self.client.pine_single(&req).await?,
            IdOrSlug::Slug(_) => self.client.pine_rows(&req).await?.into_iter().next(),
        };
        row.ok_or_else(|| Error::InvalidDeviceType {
            device_type: id_or_slug.to_string(),
        })
    }
}

/// Application lookups (`client.applications()`).
#[derive(Debug, Clone, Copy)]
pub struct Applications<'a> {
    client: &'a Balena,
}

impl<'a> Applications<'a> {
    pub(crate) fn new(client: &'a Balena) -> Self {
        Applications { client }
    }

    /// Gets an application by id, slug or uuid. Fails with
    /// [`Error::ApplicationNotFound`] or [`Error::AmbiguousApplication`].
    ///
    /// ```no_run
    /// # async fn demo(balena: balena_sdk::Balena) -> Result<(), balena_sdk::Error> {
    /// let opts = balena_sdk::PineOptions::new().select(["id"])?;
    /// let app = balena.applications().get("myorg/myfleet".into(), Some(&opts)).await?;
    /// println!("fleet id {}", app["id"]);
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, app: IdOrSlug, options: Option<&PineOptions>) -> Result<Value> {
        let req = application_get_request(&app, options)?;
        let not_found = || Error::ApplicationNotFound {
            application: app.to_string(),
        };
        match &app {
            IdOrSlug::Id(_) => self.client.pine_single(&req).await?.ok_or_else(not_found),
            IdOrSlug::Slug(_) => {
                let mut rows = self.client.pine_rows(&req).await?;
                match rows.len() {
                    0 => Err(not_found()),
                    1 => Ok(rows.remove(0)),
                    _ => Err(Error::AmbiguousApplication {
                        application: app.to_string(),
                    }),
                }
            }
        }
    }
}
