//! Who may do what: the one table every dashboard and API check reads, and the one the
//! tests walk.

use std::fmt;
use std::str::FromStr;

use super::AccountsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Owner,
    Admin,
    Editor,
    Support,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Editor,
        Role::Support,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Support => "support",
            Role::Viewer => "viewer",
        }
    }

    pub fn may(self, permission: Permission) -> bool {
        PERMISSIONS
            .iter()
            .find(|(role, _)| *role == self)
            .is_some_and(|(_, granted)| granted.contains(&permission))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AccountsError;

    fn from_str(s: &str) -> Result<Role, AccountsError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                AccountsError::Invalid(format!(
                    "unknown role {s:?}: one of owner, admin, editor, support, viewer"
                ))
            })
    }
}

/// Declares the permissions once: the enum, its list, and one marker type each in `perm`.
macro_rules! permissions {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission {
            $($(#[$doc])* $name,)*
        }

        impl Permission {
            pub const ALL: &[Permission] = &[$(Permission::$name),*];
        }

        /// Permissions as types, so a handler's signature names the one it needs
        /// (`Admin<perm::MediaWrite>`).
        pub mod perm {
            use super::Permission;

            pub trait Required {
                const PERMISSION: Permission;
            }

            $(
                pub struct $name;
                impl Required for $name {
                    const PERMISSION: Permission = Permission::$name;
                }
            )*
        }
    };
}

permissions!(
    /// Open the dashboard at all.
    DashboardView,
    MediaRead,
    MediaWrite,
    /// Titles, series, collections, rails and webhooks.
    CatalogRead,
    CatalogWrite,
    MembersRead,
    MembersWrite,
    SettingsRead,
    SettingsWrite,
    /// Where email goes and the address its links name (`smtp.*`, `site.base_url`): what
    /// an owner's account recovery depends on. Owners only, signed in: never an admin's,
    /// never a key's (see `key_grantable`).
    SettingsOwner,
    ApiKeysManage,
    /// Add, change and remove webhook endpoints; read their delivery logs.
    WebhooksManage,
    /// Read the audit log.
    AuditRead,
    /// Plans, offers, access codes, access levels and members' holdings (support reads).
    BillingRead,
    /// Change prices, access levels and codes; comp, extend, cancel and refund.
    BillingWrite,
    /// Audience, content and quality figures (money needs `BillingRead` too).
    AnalyticsRead,
);

use Permission::*;

impl Permission {
    /// The API key scope that grants this permission (`marquee apikey create --scope`).
    pub fn scope(self) -> &'static str {
        match self {
            DashboardView => "status:read",
            MediaRead => "assets:read",
            MediaWrite => "assets:write",
            CatalogRead => "catalog:read",
            CatalogWrite => "catalog:write",
            MembersRead => "members:read",
            MembersWrite => "members:write",
            SettingsRead => "settings:read",
            SettingsWrite => "settings:write",
            SettingsOwner => "settings:owner",
            ApiKeysManage => "apikeys:write",
            WebhooksManage => "webhooks:write",
            AuditRead => "audit:read",
            BillingRead => "billing:read",
            BillingWrite => "billing:write",
            AnalyticsRead => "analytics:read",
        }
    }

    pub fn from_scope(scope: &str) -> Option<Permission> {
        Permission::ALL.iter().copied().find(|p| p.scope() == scope)
    }

    /// Whether an API key may ever hold this. `SettingsOwner` decides where an owner's
    /// reset link goes, so only the owner in person uses it: a leaked key must not.
    pub fn key_grantable(self) -> bool {
        self != SettingsOwner
    }
}

/// What an admin may do: everything but the owner's own settings.
const ADMIN: &[Permission] = &[
    DashboardView,
    MediaRead,
    MediaWrite,
    CatalogRead,
    CatalogWrite,
    MembersRead,
    MembersWrite,
    SettingsRead,
    SettingsWrite,
    ApiKeysManage,
    WebhooksManage,
    AuditRead,
    BillingRead,
    BillingWrite,
    AnalyticsRead,
];

/// The table. A permission not listed for a role is refused.
pub const PERMISSIONS: &[(Role, &[Permission])] = &[
    (Role::Owner, Permission::ALL),
    (Role::Admin, ADMIN),
    (
        Role::Editor,
        &[
            DashboardView,
            MediaRead,
            MediaWrite,
            CatalogRead,
            CatalogWrite,
            AnalyticsRead,
        ],
    ),
    (
        Role::Support,
        &[
            DashboardView,
            MediaRead,
            CatalogRead,
            MembersRead,
            SettingsRead,
            BillingRead,
            AnalyticsRead,
        ],
    ),
    (Role::Viewer, &[]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_one_row_and_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(PERMISSIONS.iter().filter(|(r, _)| *r == role).count(), 1);
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
        for p in Permission::ALL {
            assert_eq!(Permission::from_scope(p.scope()), Some(*p));
        }
        assert_eq!(Permission::from_scope("assets:delete"), None);
    }

    #[test]
    fn the_table_decides() {
        for p in Permission::ALL {
            assert!(Role::Owner.may(*p));
            assert!(!Role::Viewer.may(*p));
        }
        assert!(Role::Editor.may(MediaWrite));
        assert!(!Role::Editor.may(MembersRead));
        assert!(Role::Support.may(MembersRead));
        assert!(!Role::Support.may(SettingsWrite));
        assert!(Role::Admin.may(SettingsWrite));
        assert!(!Role::Admin.may(SettingsOwner));
        assert!(!SettingsOwner.key_grantable());
        // An admin has everything else.
        for p in Permission::ALL.iter().filter(|p| **p != SettingsOwner) {
            assert!(Role::Admin.may(*p), "{p:?}");
        }
        assert!(!Role::Support.may(MediaWrite));
    }
}
