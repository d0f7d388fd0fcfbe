//! Machine values in people's words, for every page that would otherwise show an id, a
//! slug, JSON or minor units: plans and titles by their names (`Names`), access levels in
//! sentences, roles by their names, the engine's remedies and bases.

use std::collections::HashMap;

use crate::access::entitlement::{Basis, Remedy};
use crate::access::grants::Scope;
use crate::access::level::{AccessLevel, Price};
use crate::accounts::roles::{Permission, Role};
use crate::http::AppState;
use crate::http::session::PageError;
use crate::http::watch::money;

/// A role as people call it.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "Owner",
        Role::Admin => "Administrator",
        Role::Editor => "Editor",
        Role::Support => "Support",
        Role::Viewer => "Viewer",
    }
}

/// What `role` may do, one phrase each, read from `roles::PERMISSIONS` (through
/// `Role::may`) so that the dashboard's explanation of a role follows the rules. Empty
/// for a viewer.
pub fn role_abilities(role: Role) -> Vec<&'static str> {
    Permission::ALL
        .iter()
        .filter(|p| role.may(**p))
        .filter_map(|p| ability(role, *p))
        .collect()
}

/// A permission in words; a read says nothing when the role has its write too.
fn ability(role: Role, permission: Permission) -> Option<&'static str> {
    use Permission::*;
    let unless = |write: Permission, words: &'static str| (!role.may(write)).then_some(words);
    match permission {
        // Every staff role opens the dashboard; the rest says what for.
        DashboardView => None,
        MediaRead => unless(MediaWrite, "see the videos"),
        MediaWrite => Some("upload, rename and delete videos"),
        CatalogRead => unless(CatalogWrite, "see titles and the home page"),
        CatalogWrite => Some("edit and publish titles, collections and the home page"),
        MembersRead => unless(MembersWrite, "look up members"),
        MembersWrite => Some("invite members, change their roles, disable or delete them"),
        SettingsRead => unless(SettingsWrite, "see the settings"),
        SettingsWrite => Some("change the settings"),
        SettingsOwner => Some("change where email goes and the site's public address"),
        ApiKeysManage => Some("make and revoke API keys"),
        WebhooksManage => Some("manage webhooks"),
        AuditRead => Some("read the audit log"),
        BillingRead => unless(BillingWrite, "see plans, prices and what members bought"),
        BillingWrite => Some("set prices and plans, give access, cancel and refund"),
        AnalyticsRead => Some("see analytics"),
    }
}

/// A price as people read it.
pub fn price(p: &Price) -> String {
    money(p.amount, &p.currency)
}

/// A level's own key (`titles.rs`' season owner) names a season: `<series>/season/<n>`.
fn season_of(owner: &str) -> Option<(&str, &str)> {
    owner.split_once("/season/")
}

/// The names of the plans and titles a page mentions, read once per page.
#[derive(Default)]
pub struct Names {
    plans: HashMap<String, String>,
    titles: HashMap<String, crate::catalog::title_names::Labelled>,
}

impl Names {
    /// Every plan's name, and the labels of `title_ids` (a season key's series too).
    pub async fn load(state: &AppState, title_ids: Vec<String>) -> Result<Names, PageError> {
        let ids: Vec<String> = title_ids
            .into_iter()
            .map(|id| season_of(&id).map_or(id.clone(), |(series, _)| series.to_owned()))
            .collect();
        let (plans, titles) = state
            .db
            .read(move |c| {
                let plans = crate::access::plans::list(c)
                    .map_err(PageError::internal)?
                    .into_iter()
                    .map(|p| (p.id, p.fields.name))
                    .collect();
                let titles =
                    crate::catalog::title_names::labels(c, &ids).map_err(PageError::internal)?;
                Ok::<_, PageError>((plans, titles))
            })
            .await?;
        Ok(Names { plans, titles })
    }

    /// A plan's name; a plan that is gone is said so, not shown by id.
    pub fn plan(&self, id: &str) -> String {
        self.plans
            .get(id)
            .cloned()
            .unwrap_or_else(|| "a plan that no longer exists".into())
    }

    /// A title's label; a deleted title is said so.
    pub fn title(&self, id: &str) -> String {
        if let Some((series, number)) = season_of(id) {
            return format!("season {number} of {}", self.title(series));
        }
        self.titles
            .get(id)
            .map(|t| t.label.clone())
            .unwrap_or_else(|| "a title that no longer exists".into())
    }

    /// "the series Kelp Forest", "season 2 of the series Kelp Forest".
    pub fn title_with_kind(&self, id: &str) -> String {
        if let Some((series, number)) = season_of(id) {
            return format!("season {number} of {}", self.title_with_kind(series));
        }
        match self.titles.get(id) {
            Some(t) => format!("the {} {}", t.kind, t.label),
            None => "a title that no longer exists".into(),
        }
    }

    /// The label of a title that exists, by its id.
    pub fn known_title(&self, id: &str) -> Option<String> {
        self.titles.get(id).map(|t| t.label.clone())
    }

    /// The name of a plan that exists, by its id.
    pub fn known_plan(&self, id: &str) -> Option<String> {
        self.plans.get(id).cloned()
    }

    /// A decision line the playback service logged ("… on the basis of the plan <id>") with
    /// its plans named as people know them.
    pub fn plans_named(&self, line: &str) -> String {
        self.plans.iter().fold(line.to_owned(), |text, (id, name)| {
            text.replace(&format!("the plan {id}"), &format!("the plan {name}"))
        })
    }

    /// "Explorer or Family", or "any plan".
    pub fn plans_or(&self, ids: &[String]) -> String {
        if ids.is_empty() {
            return "any plan".into();
        }
        let names: Vec<String> = ids.iter().map(|p| self.plan(p)).collect();
        names.join(" or ")
    }

    /// Who may watch under `level`, as a sentence without its full stop.
    pub fn level(&self, level: &AccessLevel) -> String {
        match level {
            AccessLevel::Public => "Everyone, signed in or not".into(),
            AccessLevel::Registered => "Anyone signed in with an account".into(),
            AccessLevel::Subscribers { plans } => {
                format!("Subscribers to {}", self.plans_or(plans))
            }
            AccessLevel::Purchase { rent, buy } => match (rent, buy) {
                (Some(r), Some(b)) => {
                    format!("Those who rent it ({}) or buy it ({})", price(r), price(b))
                }
                (Some(r), None) => format!("Those who rent it ({})", price(r)),
                (None, Some(b)) => format!("Those who buy it ({})", price(b)),
                (None, None) => "No one (no price is set)".into(),
            },
            AccessLevel::PayPerView {
                price: p,
                starts_at,
                ends_at,
                ..
            } => format!(
                "Ticket holders ({}), from {} to {}",
                price(p),
                super::dashboard::when(*starts_at),
                super::dashboard::when(*ends_at)
            ),
        }
    }

    /// "Subscribers to any plan (set on the series Kelp Forest)": the level in force on
    /// `title_id`, which `owner` set.
    pub fn level_in_force(&self, level: &AccessLevel, owner: &str, title_id: &str) -> String {
        let whence = if owner == title_id {
            "set on this title".to_owned()
        } else {
            format!("set on {}", self.title_with_kind(owner))
        };
        format!("{} ({whence})", self.level(level))
    }

    /// What a comp or code gives: "Explorer for 30 days", "Kelp Forest for good".
    pub fn scope(&self, scope: &Scope) -> String {
        match scope {
            Scope::Plan(p) => format!("the plan {}", self.plan(p)),
            Scope::Title(t) => self.title(t),
        }
    }

    pub fn remedy(&self, r: &Remedy) -> String {
        match r {
            Remedy::SignIn => "sign in".into(),
            Remedy::Subscribe { plans } => format!("subscribe to {}", self.plans_or(plans)),
            Remedy::Rent { price: p } => format!("rent it for {}", price(p)),
            Remedy::Buy { price: p } => format!("buy it for {}", price(p)),
            Remedy::Ticket { price: p } => format!("a ticket for {}", price(p)),
            Remedy::Code => "an access code".into(),
            Remedy::UpdatePayment => "update the card".into(),
            Remedy::StopAnotherStream => "stop a player on another device".into(),
        }
    }

    /// On what a play was allowed, for support.
    pub fn basis(&self, b: &Basis) -> String {
        match b {
            Basis::Plan(p) => format!("the plan {}", self.plan(p)),
            Basis::Trial(p) => format!("a trial of the plan {}", self.plan(p)),
            Basis::Grace(p) => format!(
                "the grace period of the plan {} after a failed payment",
                self.plan(p)
            ),
            other => other.words(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            plans: [("explorer".to_owned(), "Explorer".to_owned())].into(),
            titles: [(
                "n9pi7f6u8ktt".to_owned(),
                crate::catalog::title_names::Labelled {
                    label: "Kelp Forest".into(),
                    kind: "series".into(),
                },
            )]
            .into(),
        }
    }

    #[test]
    fn levels_read_as_sentences_with_names() {
        let n = names();
        let any = AccessLevel::Subscribers { plans: vec![] };
        assert_eq!(
            n.level_in_force(&any, "n9pi7f6u8ktt", "quyp4f2js93f"),
            "Subscribers to any plan (set on the series Kelp Forest)"
        );
        let named = AccessLevel::Subscribers {
            plans: vec!["explorer".into()],
        };
        assert_eq!(n.level(&named), "Subscribers to Explorer");
        let rent = AccessLevel::Purchase {
            rent: Some(Price {
                amount: 299,
                currency: "eur".into(),
            }),
            buy: None,
        };
        assert!(!n.level(&rent).contains("299"), "{}", n.level(&rent));
        assert_eq!(n.title("n9pi7f6u8ktt/season/2"), "season 2 of Kelp Forest");
        assert_eq!(n.plan("gone"), "a plan that no longer exists");
        assert_eq!(
            n.plans_named("a token for 900 s, on the basis of the plan explorer"),
            "a token for 900 s, on the basis of the plan Explorer"
        );
    }
}
