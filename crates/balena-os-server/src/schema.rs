//! The resources this server serves under `/v7`, described as data.
//!
//! Names follow balena's v7 model (`is_for__device_type`,
//! `belongs_to__application`, `owns__release`, …). The description drives
//! everything else: query validation (an unknown field or navigation is a
//! 400 naming it), SQL generation (column and table names only ever come from
//! here, never from a request), access rules and the JSON shape of each row
//! (fields appear in the order given here, which is the order
//! open-balena-api prints them).
//!
//! A field's column has the field's name. Dates are stored as milliseconds
//! since the epoch and JSON documents as text (see [`ColumnType`]).

/// How a column is stored and printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// A 64-bit integer, printed as a JSON number.
    Integer,
    /// Text, printed as a JSON string.
    Text,
    /// A boolean, printed as `true`/`false`.
    Boolean,
    /// Milliseconds since the epoch, printed as an ISO-8601 string.
    DateTime,
    /// A JSON document stored as text and embedded as JSON.
    Json,
    /// The id of a row of `resource` (a foreign key), printed as
    /// `{"__id": N}`. `resource` may name a resource this server does not
    /// serve (`actor`, `application_type`), in which case the key cannot be
    /// expanded.
    Reference(&'static str),
}

/// What a field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A stored column.
    Column {
        /// Storage and output type.
        ty: ColumnType,
        /// Whether the column may be null.
        nullable: bool,
    },
    /// The release `version` object (`{raw, build, major, minor, patch,
    /// version, prerelease}`), computed from other release columns when the
    /// row is printed. It cannot be filtered or sorted on.
    ReleaseVersion,
}

/// One field of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The field (and column) name.
    pub name: &'static str,
    /// What it is.
    pub kind: FieldKind,
}

impl Field {
    /// The stored column type, or `None` for computed fields.
    pub fn column_type(&self) -> Option<ColumnType> {
        match self.kind {
            FieldKind::Column { ty, .. } => Some(ty),
            FieldKind::ReleaseVersion => None,
        }
    }
}

/// How a navigation joins two resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// This resource's reference field points at the target's `id`
    /// (to-one, e.g. `release.belongs_to__application`).
    Forward {
        /// The reference field on this resource.
        field: &'static str,
    },
    /// The target's reference field points at this resource's `id`
    /// (to-many, e.g. `application.owns__release` through
    /// `release.belongs_to__application`).
    Reverse {
        /// The reference field on the target resource.
        field: &'static str,
    },
}

/// A navigation property: a name that `$expand` and lambda filters follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Navigation {
    /// The navigation name, e.g. `owns__release`.
    pub name: &'static str,
    /// The resource it leads to.
    pub target: &'static str,
    /// How the rows are joined.
    pub link: Link,
}

/// Who may read the rows of a resource (besides administrators, who read
/// everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Every caller, including anonymous ones.
    Everyone,
    /// Applications: public ones for everyone, plus those owned by one of the
    /// caller's organisations.
    PublicOrOwnOrganization,
    /// Rows whose boolean `field` is false for everyone; the others only for
    /// administrators (device types' `is_private`).
    NotPrivate {
        /// The boolean field marking private rows.
        field: &'static str,
    },
    /// Organisations: the caller's own.
    OwnOrganization,
    /// Visible when the row that `field` references is visible.
    Inherit {
        /// The reference field to the parent row.
        field: &'static str,
    },
}

/// A served resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// The resource (and table) name.
    pub name: &'static str,
    /// Its fields, in output order. The first one named `id` is the key.
    pub fields: &'static [Field],
    /// Its navigation properties.
    pub navigations: &'static [Navigation],
    /// Its read rule.
    pub access: Access,
}

impl Resource {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The navigation called `name`.
    pub fn navigation(&self, name: &str) -> Option<&'static Navigation> {
        self.navigations.iter().find(|n| n.name == name)
    }
}

const fn col(name: &'static str, ty: ColumnType) -> Field {
    Field {
        name,
        kind: FieldKind::Column {
            ty,
            nullable: false,
        },
    }
}

const fn opt(name: &'static str, ty: ColumnType) -> Field {
    Field {
        name,
        kind: FieldKind::Column { ty, nullable: true },
    }
}

use ColumnType::{Boolean, DateTime, Integer, Json, Reference, Text};

const fn fwd(name: &'static str, target: &'static str) -> Navigation {
    Navigation {
        name,
        target,
        link: Link::Forward { field: name },
    }
}

const fn rev(name: &'static str, target: &'static str, field: &'static str) -> Navigation {
    Navigation {
        name,
        target,
        link: Link::Reverse { field },
    }
}

/// `cpu_architecture`: `aarch64`, `armv7hf`, `rpi`, `amd64`, `i386`, ….
pub const CPU_ARCHITECTURE: Resource = Resource {
    name: "cpu_architecture",
    fields: &[
        col("created_at", DateTime),
        col("modified_at", DateTime),
        col("id", Integer),
        col("slug", Text),
    ],
    navigations: &[rev(
        "is_supported_by__device_type",
        "device_type",
        "is_of__cpu_architecture",
    )],
    access: Access::Everyone,
};

/// `device_type`: boards balenaOS is built for.
pub const DEVICE_TYPE: Resource = Resource {
    name: "device_type",
    fields: &[
        col("created_at", DateTime),
        col("modified_at", DateTime),
        col("id", Integer),
        col("slug", Text),
        col("name", Text),
        col("is_of__cpu_architecture", Reference("cpu_architecture")),
        opt("logo", Text),
        opt("contract", Json),
        opt("belongs_to__device_family", Reference("device_family")),
        col("is_private", Boolean),
    ],
    navigations: &[
        fwd("is_of__cpu_architecture", "cpu_architecture"),
        rev("device_type_alias", "device_type_alias", "device_type"),
        rev(
            "is_default_for__application",
            "application",
            "is_for__device_type",
        ),
    ],
    access: Access::NotPrivate {
        field: "is_private",
    },
};

/// `device_type_alias`: every name a device type answers to (its own slug
/// included).
pub const DEVICE_TYPE_ALIAS: Resource = Resource {
    name: "device_type_alias",
    fields: &[
        col("created_at", DateTime),
        col("modified_at", DateTime),
        col("device_type", Reference("device_type")),
        col("is_referenced_by__alias", Text),
        col("id", Integer),
    ],
    navigations: &[fwd("device_type", "device_type")],
    access: Access::Inherit {
        field: "device_type",
    },
};

/// `organization`: owners of applications.
pub const ORGANIZATION: Resource = Resource {
    name: "organization",
    fields: &[
        col("created_at", DateTime),
        col("modified_at", DateTime),
        col("id", Integer),
        col("name", Text),
        col("handle", Text),
    ],
    navigations: &[rev("application", "application", "organization")],
    access: Access::OwnOrganization,
};

/// `application`: fleets, host apps (`is_host`) and supervisor apps.
pub const APPLICATION: Resource = Resource {
    name: "application",
    fields: &[
        col("created_at", DateTime),
        col("modified_at", DateTime),
        col("id", Integer),
        opt("actor", Reference("actor")),
        col("should_track_latest_release", Boolean),
        col("is_of__class", Text),
        col("organization", Reference("organization")),
        col("app_name", Text),
        col("slug", Text),
        col("is_for__device_type", Reference("device_type")),
        opt("should_be_running__release", Reference("release")),
        opt("application_type", Reference("application_type")),
        col("is_host", Boolean),
        col("is_archived", Boolean),
        col("uuid", Text),
        col("is_public", Boolean),
    ],
    navigations: &[
        fwd("organization", "organization"),
        fwd("is_for__device_type", "device_type"),
        fwd("should_be_running__release", "release"),
        rev("owns__release", "release", "belongs_to__application"),
        rev("application_tag", "application_tag", "application"),
    ],
    access: Access::PublicOrOwnOrganization,
};

/// `application_tag`: key/value tags on applications (`release-policy`,
/// `esr-current`, …).
pub const APPLICATION_TAG: Resource = Resource {
    name: "application_tag",
    fields: &[
        col("created_at", DateTime),
        col("modified_at", DateTime),
        col("application", Reference("application")),
        col("tag_key", Text),
        col("id", Integer),
        col("value", Text),
    ],
    navigations: &[fwd("application", "application")],
    access: Access::Inherit {
        field: "application",
    },
};

/// `release`: one OS (or supervisor) build of an application.
///
/// `is_final`, `semver` and `raw_version` are computed by balena's model;
/// this server stores them alongside the columns they derive from (every
/// write goes through [`crate::catalog`], which computes them), so they can
/// be filtered and sorted like columns. `version` is computed when printed.
pub const RELEASE: Resource = Resource {
    name: "release",
    fields: &[
        col("created_at", DateTime),
        col("modified_at", DateTime),
        col("id", Integer),
        col("belongs_to__application", Reference("application")),
        col("commit", Text),
        col("composition", Json),
        col("status", Text),
        col("source", Text),
        opt("build_log", Text),
        col("is_invalidated", Boolean),
        col("start_timestamp", DateTime),
        opt("end_timestamp", DateTime),
        col("update_timestamp", DateTime),
        opt("release_version", Text),
        opt("contract", Json),
        col("is_passing_tests", Boolean),
        opt("is_finalized_at__date", DateTime),
        opt("phase", Text),
        col("is_final", Boolean),
        col("semver", Text),
        col("semver_major", Integer),
        col("semver_minor", Integer),
        col("semver_patch", Integer),
        col("semver_prerelease", Text),
        col("semver_build", Text),
        col("variant", Text),
        opt("revision", Integer),
        col("raw_version", Text),
        Field {
            name: "version",
            kind: FieldKind::ReleaseVersion,
        },
        opt("known_issue_list", Text),
        opt("note", Text),
        opt("invalidation_reason", Text),
    ],
    navigations: &[
        fwd("belongs_to__application", "application"),
        rev("release_tag", "release_tag", "release"),
        rev(
            "should_be_running_on__application",
            "application",
            "should_be_running__release",
        ),
    ],
    access: Access::Inherit {
        field: "belongs_to__application",
    },
};

/// `release_tag`: key/value tags on releases (`version`, `variant`,
/// `meta-balena-base`, …).
pub const RELEASE_TAG: Resource = Resource {
    name: "release_tag",
    fields: &[
        col("created_at", DateTime),
        col("modified_at", DateTime),
        col("release", Reference("release")),
        col("tag_key", Text),
        col("id", Integer),
        col("value", Text),
    ],
    navigations: &[fwd("release", "release")],
    access: Access::Inherit { field: "release" },
};

/// Every served resource.
pub const RESOURCES: &[&Resource] = &[
    &CPU_ARCHITECTURE,
    &DEVICE_TYPE,
    &DEVICE_TYPE_ALIAS,
    &ORGANIZATION,
    &APPLICATION,
    &APPLICATION_TAG,
    &RELEASE,
    &RELEASE_TAG,
];

/// The served resource called `name`.
///
/// ```
/// let release = balena_os_server::schema::resource("release").unwrap();
/// assert!(release.field("raw_version").is_some());
/// assert!(balena_os_server::schema::resource("user").is_none());
/// ```
pub fn resource(name: &str) -> Option<&'static Resource> {
    RESOURCES.iter().copied().find(|r| r.name == name)
}

/// Release fields the `version` object is computed from.
pub const RELEASE_VERSION_INPUTS: &[&str] = &[
    "raw_version",
    "semver_major",
    "semver_minor",
    "semver_patch",
    "semver_prerelease",
    "semver_build",
    "variant",
    "revision",
    "created_at",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_consistent() {
        for r in RESOURCES {
            assert_eq!(
                r.fields.iter().filter(|f| f.name == "id").count(),
                1,
                "{} has one id",
                r.name
            );
            for (i, f) in r.fields.iter().enumerate() {
                assert!(
                    r.fields[i + 1..].iter().all(|g| g.name != f.name),
                    "{}.{} is unique",
                    r.name,
                    f.name
                );
            }
            for n in r.navigations {
                let target = resource(n.target).expect("navigation target is served");
                match n.link {
                    Link::Forward { field } => {
                        let f = r.field(field).expect("forward link field exists");
                        assert_eq!(f.column_type(), Some(ColumnType::Reference(n.target)));
                    }
                    Link::Reverse { field } => {
                        let f = target.field(field).expect("reverse link field exists");
                        assert_eq!(f.column_type(), Some(ColumnType::Reference(r.name)));
                    }
                }
            }
            if let Access::Inherit { field } = r.access {
                assert!(matches!(
                    r.field(field).and_then(Field::column_type),
                    Some(ColumnType::Reference(_))
                ));
            }
        }
        for name in RELEASE_VERSION_INPUTS {
            assert!(RELEASE.field(name).is_some());
        }
    }
}
